"""Test support for the stores on the API's database: a fresh PostgreSQL database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

POSTGRES_URL = os.environ.get("STOCKPRED_TEST_POSTGRES_URL")


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new database ``<prefix>_<hex>`` on the test server as a plain postgresql:// URL,
    dropped afterwards; skips the test without STOCKPRED_TEST_POSTGRES_URL (CI sets it)."""
    if not POSTGRES_URL:
        pytest.skip("STOCKPRED_TEST_POSTGRES_URL is not set (CI sets it)")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
