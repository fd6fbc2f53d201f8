"""The `lambdasim` command: the only module that prints or sets up logging.

Exit status: 0 on success, 2 when the user's input is wrong (a `SimulatorError`,
printed on stderr without a traceback), 1 for anything else (a bug: traceback kept).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from lambdasim import pricing
from lambdasim._version import __version__
from lambdasim.billing import bill_reports
from lambdasim.errors import OutputError, SimulatorError
from lambdasim.report.table import format_log_bill, format_summary
from lambdasim.runner import check_prices, simulate
from lambdasim.scenario import load_scenario
from lambdasim.scenario.advice import scenario_warnings
from lambdasim.workload.cloudwatch import read_reports

logger = logging.getLogger("lambdasim")

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        _setup_logging(args.verbose, args.quiet, args.log_file)
        status: int = args.handler(args)
    except SimulatorError as error:
        message = str(error)
        print(f"lambdasim: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("lambdasim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (`lambdasim run x.yaml | head`); the
        # results are written already. Point stdout at /dev/null so the interpreter's
        # final flush does not raise again (Python docs, "Note on SIGPIPE").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lambdasim",
        description="Discrete-event simulator of AWS Lambda scaling, cold starts "
        "and cost.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    logging_options = argparse.ArgumentParser(add_help=False)
    verbosity = logging_options.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more logging (-vv: a trace of every event)",
    )
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but errors"
    )
    logging_options.add_argument(
        "--log-file", type=Path, help="also write the log here"
    )
    common = argparse.ArgumentParser(add_help=False, parents=[logging_options])
    common.add_argument("scenario", type=Path, help="scenario file (.yaml or .toml)")
    common.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a scenario value, e.g. functions.api.memory_mb=1024 "
        "(repeatable)",
    )
    commands = parser.add_subparsers(title="commands", required=True)

    run = commands.add_parser(
        "run", parents=[common], help="simulate a scenario and write its results"
    )
    run.add_argument(
        "-o",
        "--output",
        type=Path,
        help="results folder (default: results/<scenario name>)",
    )
    run.add_argument(
        "--seed", type=_non_negative_int, help="root seed (overrides the scenario)"
    )
    run.set_defaults(handler=_run)

    check = commands.add_parser(
        "validate", parents=[common], help="check a scenario file and report problems"
    )
    check.set_defaults(handler=_validate)

    logs = commands.add_parser(
        "bill-logs",
        parents=[logging_options],
        help="bill CloudWatch REPORT lines and show what a Duration-based estimate "
        "misses",
    )
    logs.add_argument(
        "log", type=Path, help="CloudWatch log file (text or JSON REPORT lines)"
    )
    logs.add_argument(
        "--region",
        default=pricing.DEFAULT_REGION,
        help=f"price table Region (default {pricing.DEFAULT_REGION})",
    )
    logs.add_argument(
        "--architecture",
        choices=[a.value for a in pricing.Architecture],
        default=pricing.Architecture.X86_64.value,
        help="architecture of the functions that wrote the log (default x86_64)",
    )
    logs.add_argument(
        "--price-table", type=Path, help="a price table file of your own (JSON)"
    )
    logs.set_defaults(handler=_bill_logs)
    return parser


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0")
    return value


def _setup_logging(verbose: int, quiet: bool, log_file: Path | None) -> None:
    if quiet:
        level = logging.ERROR
    else:
        level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    # main() may run more than once in a process (tests, notebooks): replace the
    # handlers an earlier call added instead of stacking them.
    for handler in [h for h in logger.handlers if getattr(h, "_from_cli", False)]:
        logger.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        try:
            handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
        except OSError as error:
            raise OutputError(
                f"cannot open the log file {log_file}: {error.strerror or error}"
            ) from None
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._from_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level)


def _run(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario, args.overrides)
    logger.info("scenario %s loaded from %s", scenario.name, args.scenario)
    output = args.output or Path("results") / scenario.name
    _check_writable(output)
    started = time.perf_counter()
    result = simulate(scenario, seed=args.seed)
    elapsed_s = time.perf_counter() - started
    # The scenario hash changes with overrides; record them too, to tell runs apart.
    result.summary["overrides"] = list(args.overrides)
    written = result.write(output)
    if not args.quiet:
        count = result.records.invocation_count
        print(format_summary(result.summary))
        print(
            f"\n{count:,} invocations simulated in {elapsed_s:.1f} s; "
            f"results in {output}/ ({', '.join(p.name for p in written)})"
        )
    return 0


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _check_writable(directory: Path) -> None:
    """Fail before a long run, not after it, if results cannot be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"cannot create the results folder {directory}: {error.strerror or error}"
        ) from None
    if not os.access(directory, os.W_OK):
        raise OutputError(f"cannot write to the results folder {directory}")


def _validate(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario, args.overrides)
    check_prices(scenario)
    for message in scenario_warnings(scenario):
        logger.warning("%s", message)
    if not args.quiet:
        functions = _plural(len(scenario.functions), "declared function")
        sources = _plural(len(scenario.workload), "workload source")
        print(f"{args.scenario}: ok ({functions}, {sources})")
    return 0


def _bill_logs(args: argparse.Namespace) -> int:
    prices = (
        pricing.load_price_table_file(args.price_table)
        if args.price_table is not None
        else pricing.load_price_table(args.region)
    )
    log = read_reports(args.log)
    bill = bill_reports(
        log.duration_ms,
        log.billed_ms,
        log.memory_mb,
        log.init_ms,
        log.billed_restore_ms,
        log.line,
        args.architecture,
        prices,
        log.day,
    )
    if not args.quiet:
        print(format_log_bill(bill, str(args.log), log.init_reports, args.architecture))
    return 0


if __name__ == "__main__":
    sys.exit(main())
