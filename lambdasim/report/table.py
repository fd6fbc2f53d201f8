"""Format a run summary as a short fixed-width text table (plain ASCII)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lambdasim.billing import LogBill

MAX_LISTED_FUNCTIONS = 20
"""Up to this many functions, the table lists them all."""

TOP_FUNCTIONS = 10
"""Beyond `MAX_LISTED_FUNCTIONS`, only this many busiest functions are listed."""

_NAME_WIDTH = 32


def _count(block: Mapping[str, Any]) -> str:
    return f"{block['invocations']:,}"


def _percent(key: str) -> Callable[[Mapping[str, Any]], str]:
    def cell(block: Mapping[str, Any]) -> str:
        if not block["invocations"]:
            return "-"
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


def _money(value: float, places: int) -> str:
    """Dollars to `places` decimals; float noise around 0 never shows as -0."""
    return f"{round(value, places) + 0.0:,.{places}f}"


def _cost(block: Mapping[str, Any]) -> str:
    return _money(block["cost_usd"]["total"], 4)


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


def _event_age_p99(block: Mapping[str, Any]) -> str:
    value = block.get("async_event_age_ms", {}).get("p99")
    return "-" if value is None else f"{value:,.0f}"


def _utilisation(block: Mapping[str, Any]) -> str:
    value = block.get("pc_utilisation")
    return "-" if value is None else f"{100.0 * value:.1f}"


def _cost_part(*keys: str) -> Callable[[Mapping[str, Any]], str]:
    def cell(block: Mapping[str, Any]) -> str:
        value = sum(block.get("cost_usd", {}).get(key, 0.0) for key in keys)
        return "0" if value == 0 else _money(value, 4)

    return cell


def _ratio(key: str) -> Callable[[Mapping[str, Any]], str]:
    def cell(block: Mapping[str, Any]) -> str:
        value = block.get(key, 0.0)
        return f"{value:,.2f}" if value else "0"

    return cell


def _monthly(block: Mapping[str, Any]) -> str:
    value = block.get("monthly_usd")
    return "0" if not value else _money(value, 2)


# Columns shown only when the total has something other than 0 in them.
_OPTIONAL_COLUMNS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "errors": _plain_count("errors"),
    "retries": _plain_count("retries"),
    "failed req": _plain_count("failed_requests"),
    "gave up": _plain_count("upstream_timeouts"),
    "dropped": _plain_count("dropped"),
    "to dest": _destination,
    "event age p99 ms": _event_age_p99,
    "on PC": _plain_count("provisioned_invocations"),
    "spillover": _plain_count("spillover_invocations"),
    "PC util %": _utilisation,
    "PC inits": _plain_count("provisioned_inits"),
    "init $": _cost_part("init"),
    "PC $": _cost_part("provisioned_allocated", "provisioned_executing"),
    "storage $": _cost_part("storage"),
    "snapstart $": _cost_part("snapstart"),
    "proxy $": _cost_part("proxy"),
    "free tier $": _cost_part("free_tier_credit"),
    "month $": _monthly,
    "msgs sent": _plain_count("messages_sent"),
    "msgs left": _plain_count("messages_in_queue"),
    "thr receives": _plain_count("throttled_receives"),
    "dlq": _plain_count("dlq_messages"),
    "inv/msg": _ratio("invocations_per_message"),
    "downstream thr": _plain_count("downstream_throttles"),
    "db err": _plain_count("db_errors"),
}


def _columns(
    total: Mapping[str, Any],
) -> dict[str, Callable[[Mapping[str, Any]], str]]:
    shown = dict(_COLUMNS)
    for header, cell in _OPTIONAL_COLUMNS.items():
        if cell(total) not in ("0", "-"):
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
    billing = summary.get("billing")
    if isinstance(billing, Mapping):
        free = "on" if billing.get("free_tier") else "off"
        lines += ["", f"cost: {billing.get('method')}; free tier {free}"]
    if "database" in summary:
        lines += _database_lines(summary["database"])
    return "\n".join(lines) + "\n"


def format_log_bill(
    bill: LogBill, source: str, init_reports: int, architecture: str
) -> str:
    """Return the bill of CloudWatch REPORT lines and the Duration-based gap as text."""
    share = 100.0 * bill.gap_usd / bill.total_usd if bill.total_usd else 0.0
    lines = [
        f"{source}: {_lines(bill.reports, 'REPORT line')} ({architecture}, tier-1 list "
        "prices, no free tier)",
        f"  requests                          ${bill.requests_usd:,.10f}",
        f"  duration from Billed Duration     ${bill.billed_usd:,.10f}"
        f"  ({bill.gb_seconds:,.3f} GB-s)",
        f"  total                             ${bill.total_usd:,.10f}",
        f"  duration from Duration (estimate) ${bill.estimate_usd:,.10f}",
        f"  gap                               ${bill.gap_usd:,.10f}"
        f"  ({share:.1f}% of the bill)",
        f"billed INIT or SnapStart restore: {bill.billed_init_ms:,.0f} ms on "
        f"{_lines(bill.lines_billing_init)} (their Init or Billed Restore Duration: "
        f"{bill.init_ms:,.2f} ms)",
    ]
    if bill.unexplained_lines:
        listed = ", ".join(str(n) for n in bill.unexplained_lines[:10])
        more = " ..." if len(bill.unexplained_lines) > 10 else ""
        count = len(bill.unexplained_lines)
        off_ms = bill.unexplained_ms
        side = "below" if off_ms < 0 else "above"
        lines.append(
            f"{_lines(count)} {'fits' if count == 1 else 'fit'} no billing rule "
            f"(line {listed}{more}): billed as reported, {abs(off_ms):,.0f} ms "
            f"{side} the rounded Duration, in the gap too"
        )
    if init_reports:
        lines.append(
            f"{_lines(init_reports, 'INIT_REPORT line')} without a Billed Duration: "
            "not billed here"
        )
    return "\n".join(lines)


def _lines(count: int, noun: str = "line") -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _database_lines(database: Mapping[str, Any]) -> list[str]:
    """Say what the database saw: connections, waits, errors and the proxy's cost."""
    cap = database["proxy_connection_cap"]
    limit = f"proxy cap {cap:,}" if cap is not None else "no proxy"
    lines = [
        f"database: peak {_lines(database['peak_connections'], 'connection')} of "
        f"{database['usable_connections']:,} usable ({limit}), peak "
        f"{database['peak_queries_in_flight']:,} "
        f"{'query' if database['peak_queries_in_flight'] == 1 else 'queries'} in "
        f"flight on {database['vcpus']:g} vCPU{'' if database['vcpus'] == 1 else 's'}"
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
            f"connection{'' if database['peak_client_connections'] == 1 else 's'}, "
            f"{database['peak_pinned_connections']:,} pinned; {waits}; "
            + (
                f"cost ${database['proxy_cost_usd']:,.4f}"
                if database["proxy_cost_usd"] is not None
                else "cost not priced (no per-ACU rate in the price table)"
            )
        )
    acu = database.get("serverless_acu")
    if acu is not None:
        lines.append(
            f"Aurora Serverless v2: mean {acu['mean']:,.2f} ACU, peak {acu['peak']:g} "
            f"(min {acu['min']:g}, max {acu['max']:g}), {acu['acu_hours']:,.3f} "
            "ACU-hours"
        )
    if database.get("database_cost_usd") is not None:
        lines.append(
            f"database instance: ${database['database_cost_usd']:,.4f} for the run, "
            f"${database['database_monthly_usd']:,.2f} a month"
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
