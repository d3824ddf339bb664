"""``stockpred monitor``: score the champions' matured forecasts beside the baselines, measure
drift, store both, and print what was found."""

from __future__ import annotations

import json

import typer

from stockpred.cli.runtime import runtime_of

__all__ = ["monitor_command"]


def _figure(value: object, digits: int) -> str:
    import math

    if value is None:
        return "-"
    number = float(value)  # type: ignore[arg-type]
    return "-" if math.isnan(number) else f"{number:.{digits}f}"


def monitor_command(
    ctx: typer.Context,
    horizons: str = typer.Option(
        "", "--horizons", help="Comma-separated horizons (default: the served ones)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Join the stored forecasts of each champion with what happened (its last 63 matured
    sessions: rank IC, hit rate, MAE, interval coverage, beside every baseline on the same
    rows), measure the drift of every feature and of its forecasts over the last 21 sessions
    against the reference saved when it was trained, and store both for /metrics, the API and
    the alerts. Only forecasts dated after the champion's training data are scored.

    Examples: `stockpred monitor`; `stockpred monitor --horizons 5 --json`.
    """
    from stockpred.cli.layout import FittedTable
    from stockpred.compose import monitor_with, open_store
    from stockpred.monitor.report import read_report

    runtime = runtime_of(ctx)
    try:
        wanted = [int(h) for h in horizons.split(",") if h.strip()] or None
    except ValueError:
        raise typer.BadParameter(
            f"horizons must be whole numbers separated by commas, got {horizons!r}",
            param_hint="--horizons",
        ) from None
    results = monitor_with(runtime.settings, now=runtime.clock(), horizons=wanted)
    if not results:
        runtime.err.print("no champion to monitor; run `stockpred train` first")
        raise typer.Exit(1)
    with open_store(runtime.settings) as store:
        reports = [
            read_report(store, horizon=r.horizon, model_version=r.model_version) for r in results
        ]
    if as_json:
        payload = [
            {
                **report.to_json(),
                "sessions_scored": [s.isoformat() for s in result.sessions_scored],
                "matured_rows": result.matured_rows,
                "in_sample_rows": result.in_sample_rows,
                "notes": result.notes,
            }
            for result, report in zip(results, reports, strict=True)
        ]
        runtime.out.file.write(json.dumps(payload, indent=2) + "\n")
        return
    out = runtime.out
    for result, report in zip(results, reports, strict=True):
        out.print(
            f"stockpred-h{result.horizon} v{result.model_version}: "
            f"{result.matured_rows:,} matured forecasts after its training data, "
            f"{len(result.sessions_scored)} session(s) scored now",
            markup=False,
            highlight=False,
        )
        for note in result.notes:
            out.print(f"  note: {note}", markup=False, highlight=False)
        latest = report.latest()
        if latest.empty:
            out.print("  no matured forecast to score yet", markup=False, highlight=False)
        else:
            session = report.latest_session
            window = int(latest["window_sessions"].iloc[0])
            table = FittedTable(
                title=f"realised, last {window} matured sessions to {session:%Y-%m-%d}",
                title_justify="left",
            )
            for name in ("model", "role", "rank IC", "hit", "MAE", "coverage"):
                table.add_column(name, justify="left" if name in ("model", "role") else "right")
            ordered = latest.sort_values(["role", "rank_ic"], ascending=[False, False])
            for _, row in ordered.iterrows():
                table.add_row(
                    str(row["model"]),
                    str(row["role"]),
                    _figure(row["rank_ic"], 4),
                    _figure(row["hit_rate"], 3),
                    _figure(row["mae"], 4),
                    _figure(row["coverage"], 2),
                )
            out.print(table)
            out.print(
                f"  below the best baseline: {report.below_baseline} session(s) in a row",
                markup=False,
                highlight=False,
            )
        if report.drift.empty:
            continue
        drifted = report.drifted()
        worst = ", ".join(
            f"{row['subject']} (PSI {row['psi']:.2f} > {row['psi_threshold']:.2f})"
            for _, row in drifted.head(5).iterrows()
        )
        out.print(
            f"  drift over {int(report.drift['window_sessions'].iloc[0])} sessions to "
            f"{report.drift_session:%Y-%m-%d}: {len(drifted)} of {len(report.drift)} "
            "columns past their threshold" + (f": {worst}" if worst else ""),
            markup=False,
            highlight=False,
        )
