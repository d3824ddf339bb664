"""An SMTP server on loopback (aiosmtpd) that requires STARTTLS with a self-signed certificate
made here, and keeps what it accepts: what the email channel is tested against."""

from __future__ import annotations

import email
import email.policy
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

__all__ = ["Mailbox", "smtp_server", "trusting"]


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stockpred test SMTP")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp.crt", directory / "smtp.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Mailbox:
    """The SMTP server's handler: answers DATA with ``answers`` in turn, then 250, keeping
    each accepted message and whether it came over TLS."""

    def __init__(self) -> None:
        self.answers: list[str] = []
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.over_tls: list[bool] = []
        self.data_commands = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.data_commands += 1
        if self.answers:
            return self.answers.pop(0)
        content = envelope.content  # type: ignore[attr-defined]
        parsed = email.message_from_bytes(content, _class=EmailMessage, policy=email.policy.SMTP)
        self.messages.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))  # type: ignore[attr-defined]
        self.over_tls.append(session.ssl is not None)  # type: ignore[attr-defined]
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server(tmp_path: Path, *, starttls: bool = True) -> Iterator[tuple[Mailbox, int, Path]]:
    """An SMTP server on 127.0.0.1 that refuses mail before STARTTLS (unless ``starttls`` is
    False: then it does not offer it at all); yields its mailbox, port and certificate."""
    cert, key = _certificate(tmp_path)
    mailbox = Mailbox()
    options: dict[str, object] = {}
    if starttls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        options = {"tls_context": context, "require_starttls": True}
    from aiosmtpd.controller import Controller

    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield mailbox, port, cert
    finally:
        controller.stop()


def trusting(cert: Path) -> ssl.SSLContext:
    """A client TLS context that trusts the server's certificate ``cert``."""
    return ssl.create_default_context(cafile=str(cert))
