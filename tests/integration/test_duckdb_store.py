"""What only the DuckDB backend has to get right: the file lock of its single writer, and a full
disk that leaves the file as it was."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from stockpred.domain.errors import StoreError
from stockpred.store.duckdb import DuckDBStore, file_change_token
from stockpred.store.schema import MIGRATIONS, SCHEMA_VERSION
from support.disk_full import fill_disk_on_commit

# A second process that opens the file read-write: it fails while any connection holds the lock.
_PROBE = textwrap.dedent(
    """
    import sys
    import duckdb
    try:
        duckdb.connect(sys.argv[1]).close()
    except duckdb.IOException as exc:
        sys.exit(str(exc).splitlines()[0])
    """
)


def _other_process_can_open(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE, str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_closed_store_lets_another_process_open_the_file(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    DuckDBStore(path).close()

    probe = _other_process_can_open(path)

    assert probe.returncode == 0, probe.stderr


def test_second_process_opening_a_store_in_use_gets_a_store_error_saying_so(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.duckdb"
    probe = textwrap.dedent(
        """
        import sys
        from stockpred.domain.errors import StoreError
        from stockpred.store.duckdb import DuckDBStore
        try:
            DuckDBStore(sys.argv[1], lock_wait_seconds=0.5).close()
        except StoreError as exc:
            sys.exit(f"StoreError: {exc}")
        """
    )
    with DuckDBStore(path):
        second = subprocess.run(
            [sys.executable, "-c", probe, str(path)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    assert second.returncode == 1
    assert second.stderr.startswith("StoreError: cannot open the store")
    assert "another stockpred process" in second.stderr


def test_a_process_opening_a_store_held_for_a_moment_waits_for_it(tmp_path: Path) -> None:
    # The serving process holds the file for a moment every few seconds; a command started
    # meanwhile must wait for it, not fail.
    path = tmp_path / "store.duckdb"
    probe = textwrap.dedent(
        """
        import sys, time
        from stockpred.store.duckdb import DuckDBStore
        print("opening", flush=True)
        start = time.monotonic()
        DuckDBStore(sys.argv[1]).close()
        print(f"{time.monotonic() - start:.2f}", flush=True)
        """
    )
    held = DuckDBStore(path)
    second = subprocess.Popen(
        [sys.executable, "-c", probe, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert second.stdout is not None
    assert second.stdout.readline().strip() == "opening"
    time.sleep(1.0)  # the child is waiting on the lock now
    held.close()
    out, err = second.communicate(timeout=60)

    assert second.returncode == 0, err
    assert float(out) >= 0.9


def test_store_that_refuses_to_open_releases_the_file(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    DuckDBStore(path).close()
    con = duckdb.connect(str(path))
    con.execute(f"INSERT INTO stockpred_schema VALUES ({SCHEMA_VERSION + 1}, now())")
    con.close()

    # Keeping the error, as a caller that logs or reports it does.
    with pytest.raises(StoreError, match="newer") as refused:
        DuckDBStore(path)

    probe = _other_process_can_open(path)
    assert refused.value is not None
    assert probe.returncode == 0, probe.stderr


def test_store_at_an_older_schema_migrates_forward_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    # A version-1 store as version 1 made it, with a value in the long features table.
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE stockpred_schema (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ "
        "NOT NULL)"
    )
    for statement in MIGRATIONS[1]:
        con.execute(statement)
    con.execute("INSERT INTO stockpred_schema VALUES (1, now())")
    con.execute("INSERT INTO features VALUES ('AAA', now(), 'daily_v1@1', 'rsi_14', 55.0)")
    con.close()

    with DuckDBStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.read_sentiment(scorer="vader").empty
        # Features are derived: version 3 dropped the long table; a build refills the wide one.
        assert store.feature_sets() == {}
        assert store.read_features(feature_set="daily_v1@1").empty


# -- a full disk -------------------------------------------------------------------------------


def _bars(tickers: tuple[str, ...]) -> pd.DataFrame:
    days = pd.DatetimeIndex(["2024-01-02 21:00", "2024-01-03 21:00"], tz="UTC")
    return pd.DataFrame(
        [
            {
                "ticker": ticker,
                "ts": ts,
                "open": 100.0,
                "high": 102.0,
                "low": 99.0,
                "close": 101.0,
                "adj_close": 101.0,
                "volume": 1_000.0,
                "source": "test",
                "ingested_at": pd.Timestamp("2024-01-04", tz="UTC"),
            }
            for ticker in tickers
            for ts in days
        ]
    )


def test_write_on_a_full_disk_is_one_store_error_and_the_store_stays_as_it_was(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.duckdb"
    with DuckDBStore(path) as store:
        store.write_bars(_bars(("OLD",)))
        before = store.read_bars()

    with pytest.MonkeyPatch.context() as disk:
        fill_disk_on_commit(disk)
        with DuckDBStore(path) as store, pytest.raises(StoreError) as caught:
            store.write_bars(_bars(("NEW", "NEWER")))

    message = str(caught.value)
    assert message == (
        f"could not write to the store at {path}: No space left on device; nothing of this "
        "batch (4 rows of bars) was written; free space on that disk or point "
        "STOCKPRED_DUCKDB_PATH (or STOCKPRED_HOME) at another one"
    )
    # The failed commit is the error reported; the refused rollback after it is not.
    assert "Failed to commit" in str(caught.value.__cause__)
    with DuckDBStore(path) as store:
        pd.testing.assert_frame_equal(store.read_bars(), before)


def test_delete_on_a_full_disk_is_a_store_error_and_deletes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.duckdb"
    with DuckDBStore(path) as store:
        store.write_bars(_bars(("OLD",)))
    fill_disk_on_commit(monkeypatch)

    with DuckDBStore(path) as store:
        with pytest.raises(StoreError, match="No space left on device; no bar was deleted"):
            store.delete_bars(before=pd.Timestamp("2030-01-01", tz="UTC"))
        assert len(store.read_bars()) == 2


@pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None,
    reason="a tiny tmpfs needs Linux and root",
)
def test_store_on_a_really_full_disk_reports_it_and_keeps_what_it_held(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        path = disk / "store.duckdb"
        with DuckDBStore(path) as store:
            store.write_bars(_bars(("OLD",)))
            before = store.read_bars()
        with (disk / "filler").open("wb") as filler, contextlib.suppress(OSError):
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        many = tuple(f"T{i:04d}" for i in range(5000))

        with DuckDBStore(path) as store, pytest.raises(StoreError) as caught:
            store.write_bars(_bars(many))

        assert str(caught.value).startswith(
            f"could not write to the store at {path}: No space left on device; nothing of this "
            "batch (10,000 rows of bars) was written"
        )
        (disk / "filler").unlink()
        with DuckDBStore(path) as store:
            pd.testing.assert_frame_equal(store.read_bars(), before)
    finally:
        subprocess.run(["umount", str(disk)], check=False)


# -- watching for writes of other processes ----------------------------------------------------


def test_the_change_token_moves_on_a_write_and_not_on_a_read(tmp_path: Path) -> None:
    path = tmp_path / "watched.duckdb"
    missing = file_change_token(path)
    with DuckDBStore(path) as store:
        store.write_bars(_bars(("AAA",)))
    written = file_change_token(path)
    with DuckDBStore(path) as store:
        store.read_bars()
        store.bar_coverage()
    read = file_change_token(path)
    with DuckDBStore(path) as store:
        store.write_bars(_bars(("BBB",)))
    again = file_change_token(path)

    assert missing == (0, 0, 0, 0)
    assert written != missing
    assert read == written
    assert again != read
