"""Format a run summary as a short fixed-width text table (plain ASCII)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

MAX_LISTED_FUNCTIONS = 20
"""Up to this many functions, the table lists them all."""

TOP_FUNCTIONS = 10
"""Beyond `MAX_LISTED_FUNCTIONS`, only this many busiest functions are listed."""

_NAME_WIDTH = 32


def _count(block: Mapping[str, Any]) -> str:
    return f"{block['invocations']:,}"


def _percent(key: str) -> Callable[[Mapping[str, Any]], str]:
    def cell(block: Mapping[str, Any]) -> str:
        return f"{100.0 * block[key]:.2f}"

    return cell


def _share(key: str) -> Callable[[Mapping[str, Any]], str]:
    def cell(block: Mapping[str, Any]) -> str:
        invocations = block["invocations"]
        if not invocations:
            return "-"
        return f"{100.0 * block[key] / invocations:.2f}"

    return cell


def _latency(key: str) -> Callable[[Mapping[str, Any]], str]:
    def cell(block: Mapping[str, Any]) -> str:
        value = block["latency_ms"][key]
        return "-" if value is None else f"{value:,.1f}"

    return cell


def _peak(block: Mapping[str, Any]) -> str:
    return f"{block['max_concurrency']:,}"


def _cost(block: Mapping[str, Any]) -> str:
    return f"{block['cost_usd']['total']:,.4f}"


# Header -> cell of a summary block. The order is the column order.
_COLUMNS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "invocations": _count,
    "cold %": _percent("cold_start_rate"),
    "throttle %": _percent("throttle_rate"),
    "timeout %": _share("timeouts"),
    "p50 ms": _latency("p50"),
    "p99 ms": _latency("p99"),
    "max conc": _peak,
    "cost $": _cost,
}


def _plain_count(key: str) -> Callable[[Mapping[str, Any]], str]:
    def cell(block: Mapping[str, Any]) -> str:
        return f"{block.get(key, 0):,}"

    return cell


def _destination(block: Mapping[str, Any]) -> str:
    return f"{sum(block.get('on_failure_destination', {}).values()):,}"


# Columns shown only when the total has something other than 0 in them.
_OPTIONAL_COLUMNS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "errors": _plain_count("errors"),
    "retries": _plain_count("retries"),
    "failed req": _plain_count("failed_requests"),
    "gave up": _plain_count("upstream_timeouts"),
    "dropped": _plain_count("dropped"),
    "to dest": _destination,
    "db err": _plain_count("db_errors"),
}


def _columns(
    total: Mapping[str, Any],
) -> dict[str, Callable[[Mapping[str, Any]], str]]:
    shown = dict(_COLUMNS)
    for header, cell in _OPTIONAL_COLUMNS.items():
        if cell(total) != "0":
            shown[header] = cell
    return shown


def format_summary(summary: Mapping[str, Any]) -> str:
    """Return a fixed-width table of a summary from `summarise`, one line per row.

    Lists every function when there are at most `MAX_LISTED_FUNCTIONS`, else the
    `TOP_FUNCTIONS` with the most invocations (ties by name) and a line saying how
    many are left out; the last row is always the total.
    """
    functions: Mapping[str, Mapping[str, Any]] = summary["functions"]
    columns = _columns(summary["total"])
    names = list(functions)
    if len(names) > MAX_LISTED_FUNCTIONS:
        names = sorted(names, key=lambda n: (-functions[n]["invocations"], n))
        names = names[:TOP_FUNCTIONS]
    rows = [[_ascii(name), *_cells(functions[name], columns)] for name in names]
    total_row = ["total", *_cells(summary["total"], columns)]
    header = ["function", *columns]
    widths = [
        max(len(row[i]) for row in [header, *rows, total_row])
        for i in range(len(header))
    ]
    rule = "  ".join("-" * width for width in widths)
    lines = [_line(header, widths), rule, *(_line(row, widths) for row in rows)]
    left_out = len(functions) - len(names)
    if left_out:
        lines.append(f"... {left_out} more functions not listed")
    lines += [rule, _line(total_row, widths)]
    if "database" in summary:
        lines += _database_lines(summary["database"])
    return "\n".join(lines) + "\n"


def _database_lines(database: Mapping[str, Any]) -> list[str]:
    """Say what the database saw: connections, waits, errors and the proxy's cost."""
    cap = database["proxy_connection_cap"]
    limit = f"proxy cap {cap:,}" if cap is not None else "no proxy"
    lines = [
        f"database: peak {database['peak_connections']:,} connections of "
        f"{database['usable_connections']:,} usable ({limit}), peak "
        f"{database['peak_queries_in_flight']:,} queries in flight on "
        f"{database['vcpus']:g} vCPUs"
    ]
    if database["has_proxy"]:
        wait = database["borrow_wait_ms"]
        waits = (
            f"borrow wait p50 {wait['p50']:,.1f} ms, p99 {wait['p99']:,.1f} ms, "
            f"max {wait['max']:,.1f} ms"
            if wait["p50"] is not None
            else "no borrows"
        )
        lines.append(
            f"proxy: peak {database['peak_client_connections']:,} client "
            f"connections, {database['peak_pinned_connections']:,} pinned; {waits}; "
            f"cost ${database['proxy_cost_usd']:,.4f}"
        )
    errors = {k: v for k, v in database["db_errors"].items() if v}
    if errors:
        listed = ", ".join(f"{reason} {count:,}" for reason, count in errors.items())
        lines.append(f"db errors: {listed}")
    return lines


def _cells(
    block: Mapping[str, Any], columns: Mapping[str, Callable[[Mapping[str, Any]], str]]
) -> list[str]:
    return [cell(block) for cell in columns.values()]


def _line(cells: list[str], widths: list[int]) -> str:
    name, *numbers = cells
    parts = [name.ljust(widths[0])]
    parts += [c.rjust(w) for c, w in zip(numbers, widths[1:], strict=True)]
    return "  ".join(parts).rstrip()


def _ascii(name: str) -> str:
    """Keep the table plain ASCII and narrow: escape non-ASCII, cut long names."""
    text = name.encode("ascii", "backslashreplace").decode("ascii")
    if len(text) > _NAME_WIDTH:
        text = text[: _NAME_WIDTH - 3] + "..."
    return text
