"""scripts/nginx_site.py's NGINX configuration: every field of the template filled, each API
process an upstream server, and a clear error for what cannot be rendered."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from support.scripts import load_file

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def nginx_site() -> ModuleType:
    return load_file(REPO_ROOT / "scripts" / "nginx_site.py")


def site(module: ModuleType, tmp_path: Path, *upstreams: str) -> object:
    return module.NginxSite(
        upstreams=upstreams,
        run_dir=tmp_path,
        http_port=8080,
        https_port=8443,
        certificate=tmp_path / "c.crt",
        key=tmp_path / "c.key",
        rate_per_second=7,
        burst=14,
    )


def test_every_field_is_filled_and_each_process_is_an_upstream(
    nginx_site: ModuleType, tmp_path: Path
) -> None:
    text = nginx_site.render_nginx_config(
        site(nginx_site, tmp_path, "127.0.0.1:8001", "127.0.0.1:8002")
    )
    assert "@@" not in text
    assert "server 127.0.0.1:8001 max_fails=1 fail_timeout=10s;" in text
    assert "server 127.0.0.1:8002 max_fails=1 fail_timeout=10s;" in text
    assert "least_conn;" in text
    assert "rate=7r/s" in text
    assert "burst=14 nodelay" in text
    assert "listen 127.0.0.1:8443 ssl http2;" in text
    assert f"ssl_certificate {tmp_path / 'c.crt'};" in text


def test_no_upstream_is_refused(nginx_site: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one API process"):
        nginx_site.render_nginx_config(site(nginx_site, tmp_path))


def test_the_test_certificate_names_localhost(nginx_site: ModuleType, tmp_path: Path) -> None:
    from cryptography import x509

    certificate, key = nginx_site.write_test_certificate(tmp_path)
    loaded = x509.load_pem_x509_certificate(certificate.read_bytes())
    names = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert key.stat().st_mode & 0o077 == 0
