"""Start-up cost of the command line: wall time and peak memory of ``stockpred --version``,
``stockpred --help`` and ``stockpred <command> --help``, beside ``python -c pass`` and
``python -c "import pandas"`` measured in the same run (a ratio holds on a noisy machine).

Each command runs ``--repeat`` times in a fresh interpreter (no data: start-up reads only the
settings); the figure is the median wall time and the largest ``ru_maxrss`` of the children.
A command imports only what it uses (``cli/app.py`` loads sub-commands lazily, and a command
module loads pandas, the store and the models inside its commands), so ``--version``, ``--help``
and every ``<command> --help`` should cost no more than importing pandas alone. Prints one JSON
object.

    python benchmarks/startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

_CLI = "from stockpred.cli.app import run; run()"
# Each child reports its own peak resident memory on stderr as it exits.
_PEAK = (
    "import atexit, resource, sys; atexit.register(lambda: sys.stderr.write("
    "'peak_kib=%d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)); "
)
CASES: dict[str, tuple[str, list[str]]] = {
    "python -c pass": ("pass", []),
    "python -c 'import pandas'": ("import pandas", []),
    "stockpred --version": (_CLI, ["--version"]),
    "stockpred --help": (_CLI, ["--help"]),
    "stockpred ingest --help": (_CLI, ["ingest", "--help"]),
    "stockpred data --help": (_CLI, ["data", "--help"]),
    "stockpred features --help": (_CLI, ["features", "--help"]),
    "stockpred evaluate --help": (_CLI, ["evaluate", "--help"]),
    "stockpred predict --help": (_CLI, ["predict", "--help"]),
    "stockpred serve --help": (_CLI, ["serve", "--help"]),
}


def _run_once(code: str, arguments: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of one child."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _PEAK + code, *arguments],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{code} {arguments} failed: {done.stderr[-400:]}")
    peak = [line for line in done.stderr.splitlines() if line.startswith("peak_kib=")]
    return seconds, int(peak[-1].split("=")[1]) / 1024 if peak else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per command (median)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "STOCKPRED_HOME": home, "COLUMNS": "80"}
        results: dict[str, dict[str, float]] = {}
        for name, (code, arguments) in CASES.items():
            runs = [_run_once(code, arguments, env) for _ in range(args.repeat)]
            results[name] = {
                "median_seconds": round(statistics.median(t for t, _ in runs), 3),
                "min_seconds": round(min(t for t, _ in runs), 3),
                "peak_rss_mib": round(max(m for _, m in runs), 1),
            }
    pandas = results["python -c 'import pandas'"]["median_seconds"]
    report = {
        "benchmark": "startup",
        "repeat": args.repeat,
        "python": sys.version.split()[0],
        "commands": results,
        "ratio_to_import_pandas": {
            name: round(r["median_seconds"] / pandas, 2)
            for name, r in results.items()
            if name.startswith("stockpred")
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
