"""Where a PostgreSQL store lives, and what of its URL may be shown: never the password."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from stockpred.domain.errors import StoreError

__all__ = ["URL_SETTING", "PostgresServer", "database_message", "first_line", "parse_server"]

URL_SETTING = "STOCKPRED_POSTGRES_URL"
_MASK = "********"

# user:password@ in a URL, and password=... in a key=value connection string.
_URL_PASSWORD = re.compile(r"(?P<head>://[^/@:]*:)[^@/]*@")
_KEYWORD_PASSWORD = re.compile(r"(?P<head>password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """Where the store lives, for messages: host, port, database, user; never the password."""

    host: str
    port: str
    database: str
    user: str
    secrets: tuple[str, ...]
    # Connection parameters the URL sets itself, which the store then leaves alone.
    given: frozenset[str] = frozenset()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def describe(self, schema: str) -> str:
        return f"postgresql://{self.user}@{self.address}/{self.database} (schema {schema})"

    def mask(self, text: str) -> str:
        """``text`` with every form of the password replaced by ********."""
        masked = _URL_PASSWORD.sub(rf"\g<head>{_MASK}@", text)
        masked = _KEYWORD_PASSWORD.sub(rf"\g<head>{_MASK}", masked)
        for secret in self.secrets:
            masked = masked.replace(secret, _MASK)
        return masked


def parse_server(url: str) -> PostgresServer:
    """Host, port, database and user of ``url`` (a URL or key=value string), and its password
    in every spelling so that messages can mask it. Needs psycopg installed."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    # Both spellings of the password: as written in the URL (percent-encoded) and decoded.
    raw = _url_password(url)
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error as exc:
        shown = PostgresServer("", "", "", "", secrets=(raw,) if raw else ())
        raise StoreError(
            f"{URL_SETTING} is not a valid PostgreSQL URL ({shown.mask(first_line(exc))}); "
            "write it as postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE"
        ) from exc
    password = str(params.get("password") or "")
    secrets = tuple(s for s in {raw, password} if s)
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    user = str(params.get("user") or "")
    return PostgresServer(
        host=host,
        port=str(params.get("port") or "5432"),
        database=str(params.get("dbname") or user or "(the user's default)"),
        user=user,
        secrets=secrets,
        given=frozenset(params),
    )


def _url_password(url: str) -> str:
    try:
        parts = urlsplit(url)
        _, _, password = parts.netloc.rpartition("@")[0].partition(":")
    except ValueError:
        return ""
    return password


def first_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def database_message(exc: BaseException) -> str:
    """The server's primary message and, when it says where (COPY line, column), that too."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    context = getattr(diag, "context", None)
    if not primary:
        return first_line(exc)
    where = f" ({context.splitlines()[0]})" if context else ""
    return f"{primary}{where}"
