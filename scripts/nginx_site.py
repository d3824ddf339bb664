"""NGINX's configuration from deploy/nginx/nginx.conf.template, and a test certificate.

    python scripts/nginx_site.py nginx-config --upstream 127.0.0.1:8001 --upstream 127.0.0.1:8002 \\
        --run-dir /tmp/stockpred-nginx --http-port 8080 --https-port 8443

writes RUN_DIR/nginx.conf (and, without --certificate, a self-signed certificate for localhost
into RUN_DIR) and prints the command that starts NGINX on it. `make up` (scripts/local_platform.py)
and the NGINX tests use the same functions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
NGINX_TEMPLATE = REPO_ROOT / "deploy" / "nginx" / "nginx.conf.template"
_FIELD = re.compile(r"@@([A-Z_]+)@@")
# The temp folders nginx.conf.template names under RUN_DIR.
_TEMP_FOLDERS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


@dataclass(frozen=True, slots=True)
class NginxSite:
    """What fills deploy/nginx/nginx.conf.template. ``upstreams`` are the API processes
    (``host:port``); ``rate_per_second`` and ``burst`` the per-address request limit."""

    upstreams: tuple[str, ...]
    run_dir: Path
    http_port: int
    https_port: int
    certificate: Path
    key: Path
    host: str = "127.0.0.1"
    rate_per_second: int = 100
    burst: int = 200
    fail_timeout_seconds: int = 10


def render_nginx_config(site: NginxSite) -> str:
    """nginx.conf for ``site``; every @@FIELD@@ of the template must be filled."""
    if not site.upstreams:
        raise ValueError("NGINX needs at least one API process (--upstream HOST:PORT)")
    servers = "\n".join(
        f"        server {upstream} max_fails=1 fail_timeout={site.fail_timeout_seconds}s;"
        for upstream in site.upstreams
    )
    fields = {
        "RUN_DIR": str(site.run_dir),
        "UPSTREAM_SERVERS": servers,
        "HTTP_LISTEN": f"{site.host}:{site.http_port}",
        "HTTPS_LISTEN": f"{site.host}:{site.https_port}",
        "TLS_CERTIFICATE": str(site.certificate),
        "TLS_KEY": str(site.key),
        "RATE_PER_SECOND": str(site.rate_per_second),
        "BURST": str(site.burst),
    }
    template = NGINX_TEMPLATE.read_text(encoding="utf-8")
    missing = sorted(set(_FIELD.findall(template)) - set(fields))
    if missing:
        raise ValueError(f"{NGINX_TEMPLATE.name} has fields nothing fills: {', '.join(missing)}")
    return _FIELD.sub(lambda match: fields[match.group(1)], template)


def write_nginx_config(site: NginxSite) -> Path:
    """RUN_DIR/nginx.conf and the temp folders it names; returns the file."""
    site.run_dir.mkdir(parents=True, exist_ok=True)
    for folder in _TEMP_FOLDERS:
        (site.run_dir / folder).mkdir(exist_ok=True)
    path = site.run_dir / "nginx.conf"
    path.write_text(render_nginx_config(site), encoding="utf-8")
    return path


def write_test_certificate(directory: Path, *, days: int = 7) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (never for production), as
    (certificate, key) PEM files in ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    certificate_path = directory / "localhost.crt"
    key_path = directory / "localhost.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return certificate_path, key_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    nginx = commands.add_parser("nginx-config", help="write nginx.conf for local API processes")
    nginx.add_argument("--upstream", action="append", required=True, help="HOST:PORT of an API")
    nginx.add_argument("--run-dir", type=Path, required=True)
    nginx.add_argument("--http-port", type=int, default=8080)
    nginx.add_argument("--https-port", type=int, default=8443)
    nginx.add_argument("--certificate", type=Path)
    nginx.add_argument("--key", type=Path)
    nginx.add_argument("--rate", type=int, default=100, help="requests/s per client address")
    certify = commands.add_parser("certificate", help="write a self-signed localhost certificate")
    certify.add_argument("--out", type=Path, required=True, help="folder for localhost.crt/.key")
    args = parser.parse_args(argv)
    if args.command == "certificate":
        for path in write_test_certificate(args.out):
            print(path)
        return 0
    if (args.certificate is None) != (args.key is None):
        parser.error("give both --certificate and --key, or neither (a test certificate)")
    certificate, key = (
        (args.certificate, args.key)
        if args.certificate is not None
        else write_test_certificate(args.run_dir)
    )
    path = write_nginx_config(
        NginxSite(
            upstreams=tuple(args.upstream),
            run_dir=args.run_dir,
            http_port=args.http_port,
            https_port=args.https_port,
            certificate=certificate,
            key=key,
            rate_per_second=args.rate,
            burst=args.rate * 2,
        )
    )
    print(f"nginx -e {args.run_dir}/error.log -p {args.run_dir} -c {path} -g 'daemon off;'")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
