"""``stockpred sources``: every provider, its key, its quota and how it last went."""

from __future__ import annotations

import typer

from stockpred.cli.render import frame_table, records
from stockpred.cli.runtime import runtime_of

__all__ = ["sources_command"]


def sources_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """List the data providers: kind, whether a key is set, rate limit, last success/failure."""
    # Loaded here, not at the top, so that `--help` does not pay for pandas and the providers.
    import pandas as pd

    from stockpred.compose import provider_status
    from stockpred.sources.providers.registry import PROVIDERS

    runtime = runtime_of(ctx)
    settings = runtime.settings
    status = provider_status(settings).read()
    rows = []
    for name, info in sorted(PROVIDERS.items()):
        key = getattr(settings, info.key_setting) if info.key_setting else None
        seen = status.get(name, {})
        rows.append(
            {
                "provider": name,
                "kind": info.kind,
                "key": "not needed"
                if info.key_setting is None
                else (
                    "set" if key is not None else f"missing (STOCKPRED_{info.key_setting.upper()})"
                ),
                "rate_limit": info.rate_limit.describe(),
                "base_url": settings.provider_urls.get(name, info.base_url),
                "last_success": seen.get("last_success", ""),
                "last_failure": seen.get("last_failure", ""),
                "last_error": seen.get("last_error", ""),
            }
        )
    frame = pd.DataFrame(rows)
    if as_json:
        runtime.print_json(records(frame))
        return
    # The terminal table keeps to what fits 80 columns; --json has every field (base URL, the
    # variable of a missing key, last error).
    shown = frame.assign(key=[_key_cell(row["key"]) for row in rows])
    runtime.out.print(
        frame_table(
            shown,
            title="Data providers",
            columns=["provider", "kind", "key", "rate_limit", "last_success", "last_failure"],
            formats={"last_success": _moment, "last_failure": _moment},
        )
    )
    needed: dict[str, list[str]] = {}
    for name, info in sorted(PROVIDERS.items()):
        if info.key_setting and getattr(settings, info.key_setting) is None:
            needed.setdefault(f"STOCKPRED_{info.key_setting.upper()}", []).append(name)
    for variable, names in needed.items():
        runtime.out.print(f"{', '.join(names)}: set {variable}", markup=False, highlight=False)
    for row in rows:
        if row["last_error"]:
            runtime.out.print(f"[red]{row['provider']}[/] last error: {row['last_error']}")


def _key_cell(key: str) -> str:
    """'missing (STOCKPRED_...)' as 'missing': the variable is named below the table."""
    return "missing" if key.startswith("missing") else key


def _moment(value: object) -> str:
    """An ISO time of the status file as 'YYYY-MM-DD HH:MM' (UTC); as it is if it is not one."""
    import pandas as pd

    text = str(value or "")
    try:
        moment = pd.Timestamp(text)
    except ValueError:
        return text
    if pd.isna(moment):
        return text
    if moment.tzinfo is not None:
        moment = moment.tz_convert("UTC")
    return f"{moment:%Y-%m-%d %H:%M}"
