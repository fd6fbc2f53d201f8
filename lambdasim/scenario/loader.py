"""Load a scenario file (YAML or TOML), apply `--set` overrides, validate it all.

Every problem is collected and raised together as one `ScenarioError`, each line
saying where (file, line, key path), what was found and what is allowed.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
import tomllib
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from lambdasim.distributions import KINDS, DistributionSpec
from lambdasim.errors import ScenarioError, TraceFormatError
from lambdasim.price_tables import load_price_table_file
from lambdasim.scenario import schema
from lambdasim.scenario.schema import Scenario
from lambdasim.units import parse_duration_s
from lambdasim.workload.replay import ReplaySource

PathKey = tuple[str | int, ...]

_PATH_FIELDS = ("path",)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, leaving dates as text for the schema to check.

    PyYAML turns `2026-13-01` into a `datetime.date` while parsing and crashes on an
    impossible one; as text, the schema reports it with its place in the file.
    """

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> Any:
        """Refuse a key given twice in one mapping: YAML would keep the last."""
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *defaults`: its keys may be given again here
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if isinstance(key, typing.Hashable) and key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key {key!r} is given twice in one mapping (lines "
                        f"{seen[key]} and {line}); keep one",
                        key_node.start_mark,
                    )
                if isinstance(key, typing.Hashable):
                    seen[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if not tag.endswith(":timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


_CROSS_CHECKED = (schema.InitPresetError, schema.CrossCheckError)


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Read, override and validate a scenario file.

    Relative trace paths in the file are relative to the file's folder; relative
    paths given in overrides are relative to the current directory.

    Args:
        path: A `.yaml`, `.yml` or `.toml` file.
        overrides: ``key.path=value`` strings; the value is parsed as YAML
            (``memory_mb=1024``, ``reserved_concurrency=null``, ``horizon=2h``).

    Raises:
        ScenarioError: Listing every problem found.
    """
    file = Path(path)
    raw, lines = _read(file)
    _resolve_paths(raw, file.parent.resolve())
    problems = []
    for override in overrides:
        problem, key = _apply_override(raw, override)
        if problem is not None:
            problems.append(problem)
        elif key is not None:
            _mark_override(lines, key, override)
    if problems:
        raise ScenarioError(problems, source=str(file))
    _resolve_paths(raw, Path.cwd())
    return validate_scenario(raw, source=str(file), lines=lines)


def _mark_override(lines: dict[PathKey, int | str], key: PathKey, text: str) -> None:
    """Locate problems under an overridden key at the override, not the file."""
    for known in [k for k in lines if k[: len(key)] == key]:
        del lines[known]
    lines[key] = f"--set {text}"
    # Blocks the override created (`--set database.engine=mysql` on a scenario
    # without a database) are located at it too, not at the file's first line.
    for depth in range(1, len(key)):
        lines.setdefault(key[:depth], f"--set {text}")


def validate_scenario(
    raw: Mapping[str, Any],
    source: str = "<scenario>",
    lines: Mapping[PathKey, int | str] | None = None,
) -> Scenario:
    """Validate a scenario given as plain data (as a notebook might build it).

    Raises:
        ScenarioError: Listing every problem found, located by key path (and line
            when `lines` maps key paths to line numbers).
    """
    lines = lines or {}
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as error:
        problems = _merge_alternatives(
            [
                _describe(e, raw, source, lines)
                for e in error.errors()
                # Reported below by the cross checks, each at its own key.
                if not isinstance(e.get("ctx", {}).get("error"), _CROSS_CHECKED)
            ]
        )
        # Cross-field checks run inside pydantic only once every field is valid;
        # run them on the raw data too, so one pass reports every problem.
        problems += [
            _locate(source, lines, key, message)
            for key, message in schema.cross_check_problems(raw)
        ]
        problems += [
            _locate(source, lines, key, message)
            for key, message in _missing_files(raw.get("workload"))
        ]
        raise ScenarioError(_unique(problems), source=source) from None
    problems = [
        _locate(source, lines, key, message)
        for key, message in _missing_files(
            [source.model_dump() for source in scenario.workload]
        )
    ]
    problems += [
        _locate(source, lines, ("billing", "price_table"), message)
        for message in _price_table_problems(scenario.billing.price_table)
    ]
    problems += [
        _locate(source, lines, key, message)
        for key, message in _size_problems(scenario)
    ]
    if not problems:  # a missing trace is reported above; it has no columns
        problems += [
            _locate(source, lines, key, message)
            for key, message in _replay_column_problems(scenario)
        ]
    if problems:
        raise ScenarioError(problems, source=source)
    return scenario


def _replay_column_problems(scenario: Scenario) -> list[tuple[PathKey, str]]:
    """Check that each replayed file has the columns its source names.

    Reads only each file's header (CSV) or schema (Parquet), so `validate` finds a
    misnamed `time_column` without reading the trace.
    """
    problems: list[tuple[PathKey, str]] = []
    for index, workload in enumerate(scenario.workload):
        if not isinstance(workload, schema.ReplaySpec):
            continue
        try:
            ReplaySource(
                workload.path,
                time_column=workload.time_column,
                function_column=workload.function_column,
                duration_column=workload.duration_column,
            )
        except TraceFormatError as error:
            problems.append((("workload", index), f"workload[{index}]: {error}"))
    return problems


def _size_problems(scenario: Scenario) -> list[tuple[PathKey, str]]:
    """Synthetic sources that together are too large for one run to hold."""
    counts = {
        index: count
        for index, workload in enumerate(scenario.workload)
        if (count := schema.expected_arrivals(workload, scenario.horizon)) is not None
    }
    unbounded = [index for index, count in counts.items() if not math.isfinite(count)]
    if unbounded:
        return [
            (
                ("workload", index),
                f"workload[{index}] makes an unbounded number of arrivals (an "
                "infinite rate); expected a finite rate",
            )
            for index in unbounded
        ]
    total = sum(counts.values())
    if total <= schema.MAX_EXPECTED_ARRIVALS:
        return []
    largest = max(counts, key=counts.__getitem__)
    return [
        (
            ("workload", largest),
            f"the workload makes about {total:,.0f} arrivals in the horizon "
            f"(workload[{largest}] about {counts[largest]:,.0f}); at most "
            f"{schema.MAX_EXPECTED_ARRIVALS:,} (a run holds every invocation in "
            "memory, about 500 bytes each): lower the rates or counts, or the horizon",
        )
    ]


def _merge_alternatives(problems: list[str]) -> list[str]:
    """Join the errors of one value against each member of a union into one line.

    ``request_rate_quota: -3`` fails both 'auto' or 'none' and a number > 0; the
    user made one mistake and reads one line: ``...; expected 'auto' or 'none', or
    a number > 0``.
    """
    merged: list[str] = []
    for problem in problems:
        head, sep, expected = problem.partition("; expected ")
        if sep and merged and merged[-1].startswith(head + "; expected "):
            merged[-1] += f", or {expected}"
        else:
            merged.append(problem)
    return merged


def scenario_sha256(scenario: Scenario) -> str:
    """Return a hash of the validated scenario (the same however it was written)."""
    return hashlib.sha256(scenario.model_dump_json().encode("utf-8")).hexdigest()


# -- reading ----------------------------------------------------------------------


def _read(file: Path) -> tuple[dict[str, Any], dict[PathKey, int | str]]:
    if file.is_dir():
        raise ScenarioError(
            f"{file}: a folder; expected a scenario file (.yaml, .yml or .toml)"
        )
    suffix = file.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise ScenarioError(
            f"{file}: unsupported scenario file type {suffix or '(none)'!r}; "
            "expected .yaml, .yml or .toml"
        )
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{file}: scenario file not found") from None
    except OSError as error:
        raise ScenarioError(f"{file}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raw_bytes = error.object
        line_number = raw_bytes[: error.start].count(b"\n") + 1
        raise ScenarioError(
            f"{file}:{line_number}: byte 0x{raw_bytes[error.start]:02x} is not UTF-8 "
            "text; expected a YAML or TOML file saved as UTF-8"
        ) from None
    if suffix == ".toml":
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            # tomllib gives the position only inside the message before 3.14.
            position = re.search(r"\(at line (\d+), column \d+\)", str(error))
            where = f":{position[1]}" if position else ""
            raise ScenarioError(f"{file}{where}: not valid TOML: {error}") from None
        lines: dict[PathKey, int | str] = dict(_toml_lines(text))
    else:
        try:
            data = _load_yaml(text)
            lines = dict(_yaml_lines(text))
        except yaml.YAMLError as error:
            where = ""
            mark = getattr(error, "problem_mark", None)
            if mark is not None:
                where = f":{mark.line + 1}"
            problem = getattr(error, "problem", None) or str(error)
            raise ScenarioError(f"{file}{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        line = lines.get(())
        where = f"{file}:{line}" if line is not None else str(file)
        found = "nothing (the file is empty)" if data is None else _show(data)
        raise ScenarioError(
            f"{where}: expected a mapping of scenario keys (name: ..., horizon: ...) "
            f"at the top level, found {found}"
        )
    return data, lines


def _yaml_lines(text: str) -> dict[PathKey, int]:
    """Map each key path in a YAML document to the line its value starts on."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    lines: dict[PathKey, int] = {}

    def walk(node: yaml.Node, key: PathKey) -> None:
        lines[key] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                lines[(*key, str(key_node.value))] = key_node.start_mark.line + 1
                walk(value_node, (*key, str(key_node.value)))
                lines[(*key, str(key_node.value))] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*key, index))

    if root is not None:
        walk(root, ())
    return lines


_TOML_ARRAY_TABLE = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]")
_TOML_TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]")
_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


def _toml_lines(text: str) -> dict[PathKey, int]:
    """Map key paths in a TOML document to their lines, line by line.

    tomllib keeps no positions, so this reads table headers and ``key =`` lines.
    Keys inside inline tables or multi-line arrays are not mapped; errors there
    are placed at the nearest enclosing key.
    """
    lines: dict[PathKey, int] = {}
    counts: dict[PathKey, int] = {}
    table: PathKey = ()
    for number, line in enumerate(text.splitlines(), start=1):
        if match := _TOML_ARRAY_TABLE.match(line):
            *parents, last = _toml_key(match[1])
            path = (*_toml_table_path(tuple(parents), counts), last)
            counts[path] = counts.get(path, -1) + 1
            table = (*path, counts[path])
        elif match := _TOML_TABLE.match(line):
            table = _toml_table_path(_toml_key(match[1]), counts)
        elif match := _TOML_KEY.match(line):
            lines.setdefault((*table, *_toml_key(match[1])), number)
            continue
        else:
            continue
        for depth in range(1, len(table) + 1):
            lines.setdefault(table[:depth], number)
    return lines


def _toml_key(text: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in text.split("."))


def _toml_table_path(parts: tuple[str, ...], counts: Mapping[PathKey, int]) -> PathKey:
    """Insert the current index after each array-of-tables prefix of `parts`."""
    path: PathKey = ()
    for part in parts:
        path = (*path, part)
        if path in counts:
            path = (*path, counts[path])
    return path


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    billing = raw.get("billing")
    if isinstance(billing, dict):
        table = billing.get("price_table")
        if isinstance(table, str) and not Path(table).is_absolute():
            billing["price_table"] = str((base / table).resolve())
    for source in raw.get("workload") or []:
        if isinstance(source, dict):
            for field in _PATH_FIELDS:
                value = source.get(field)
                if isinstance(value, str) and not Path(value).is_absolute():
                    source[field] = str((base / value).resolve())


# -- overrides --------------------------------------------------------------------


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> list[str]:
    """Apply ``key.path=value`` overrides to `raw` in place; return the problems."""
    problems = []
    for override in overrides:
        problem, _ = _apply_override(raw, override)
        if problem is not None:
            problems.append(problem)
    return problems


def _apply_override(
    raw: dict[str, Any], override: str
) -> tuple[str | None, PathKey | None]:
    """Apply one override; return (problem, None) or (None, the key path set)."""
    key_path, sep, text = override.partition("=")
    if not sep or not key_path.strip():
        return (
            f"--set {override!r}: expected key.path=value, "
            "e.g. functions.api.memory_mb=1024"
        ), None
    try:
        value = _load_yaml(text)
    except yaml.YAMLError as error:
        if text.lstrip().startswith(("{", "[")):
            problem = getattr(error, "problem", None) or "cannot be parsed"
            return (
                f"--set {key_path}: the value {text!r} is not valid YAML ({problem}); "
                "write a mapping as {key: value, ...} and a list as [a, b, ...]"
            ), None
        value = text
    parts = key_path.strip().split(".")
    node: Any = raw
    key: list[str | int] = []
    for depth, part in enumerate(parts[:-1]):
        where = ".".join(parts[: depth + 1])
        key.append(int(part) if isinstance(node, list) and part.isdigit() else part)
        following = parts[depth + 1]
        if isinstance(node, dict) and node.get(part) is None and following.isdigit():
            return (
                f"--set {key_path}: the scenario has no {where} list to index; set "
                f"the whole list, e.g. --set '{where}=[...]'"
            ), None
        node = _step_into(node, part, where)
        if isinstance(node, str):
            return f"--set {key_path}: {node}", None
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            return f"--set {key_path}: {_not_an_index(last, parts[:-1], node)}", None
        node[int(last)] = value
        key.append(int(last))
    elif isinstance(node, dict):
        # A whole mapping may define a new function; anything else would invent one.
        problem = (
            None
            if isinstance(value, dict)
            else _unknown_function(node, last, parts[:-1], raw)
        )
        if problem is not None:
            return f"--set {key_path}: {problem}", None
        node[last] = value
        key.append(last)
    else:
        parent = ".".join(parts[:-1])
        return f"--set {key_path}: {parent} holds a value, not a mapping", None
    return None, tuple(key)


def _unknown_function(
    node: dict[str, Any], part: str, parent: Sequence[str], raw: dict[str, Any]
) -> str | None:
    """Refuse to invent a function: a typo in its name would create one silently."""
    if (
        list(parent) != ["functions"]
        or part in node
        or node is not raw.get("functions")
    ):
        return None
    close = difflib.get_close_matches(part, list(node), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    known = ", ".join(sorted(node)) or "none"
    return f"no function {part!r}{hint}; the scenario defines: {known}"


def _not_an_index(part: str, parent: Sequence[str], node: list[Any]) -> str:
    indices = f"0..{len(node) - 1}" if node else "the list is empty"
    return f"{part!r} is not an index of the list at {'.'.join(parent)} ({indices})"


def _step_into(node: Any, part: str, where: str) -> Any:
    """Return the child `part` of `node`, creating mappings; a str is a problem."""
    if isinstance(node, list):
        if part.isdigit() and int(part) < len(node):
            return node[int(part)]
        return _not_an_index(part, where.split(".")[:-1], node)
    if isinstance(node, dict):
        child = node.get(part)
        if child is None and where.count(".") == 1 and where.startswith("functions."):
            problem = _unknown_function(node, part, ["functions"], {"functions": node})
            if problem is not None:
                return problem
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict | list):
            return (
                f"{where} holds a value, not a mapping; to make it one, set it whole: "
                f"--set '{where}={{...}}'"
            )
        return child
    return f"{where} holds a value, not a mapping"


# -- error messages ---------------------------------------------------------------


def _describe(
    error: Any,
    raw: Mapping[str, Any],
    source: str,
    lines: Mapping[PathKey, int | str],
) -> str:
    key = _clean_loc(error["loc"], raw)
    kind = error["type"]
    if "[key]" in error["loc"]:
        # A bad mapping key: pydantic's location holds the key as it coerced it
        # (true as 1), so the message, which names the key as written, stands alone.
        parent = key[: len(error["loc"][: error["loc"].index("[key]")]) - 1]
        bad = error["loc"][error["loc"].index("[key]") - 1]
        node = _raw_value(raw, parent, default=None)
        line_key = (*parent, bad) if _has_child(node, bad) else parent
        message = str(error["msg"]).removeprefix("Value error, ")
        return _locate(source, lines, line_key, f"{_dotted(parent)}: {message}")
    if kind == "extra_forbidden":
        return _locate(source, lines, key, _unknown_key_message(key, raw))
    if kind == "missing":
        return _locate(source, lines, key, f"{_dotted(key)} is missing (required)")
    found = _raw_value(raw, key, default=error.get("input"))
    message = str(error["msg"])
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        types = schema.EVENT_TYPES if key[:1] == ("events",) else schema.SOURCE_TYPES
        if isinstance(found, dict) and "type" in found:
            # Name the key that is wrong, with a close match if there is one.
            close = difflib.get_close_matches(str(found["type"]), types, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return _locate(
                source,
                lines,
                (*key, "type"),
                f"{_dotted((*key, 'type'))} is {_show(found['type'])}{hint}; expected "
                f"one of: {', '.join(types)}",
            )
        message = f"expected 'type' to be one of: {', '.join(types)}"
    if kind == "value_error" and key == ():
        return _locate(source, lines, key, message)
    if kind == "value_error" and isinstance(found, dict):
        # A check of a whole block: the block's text would say nothing more.
        return _locate(source, lines, key, f"{_dotted(key)}: {message}")
    message = _PLAIN.get(kind, message)
    if kind == "too_short":
        least = error.get("ctx", {}).get("min_length", 1)
        message = f"expected at least {least} item{'' if least == 1 else 's'}"
    if (
        kind == "string_type"
        and isinstance(found, dict)
        and found
        and not any(found.values())
    ):
        # `function: api:` reads as the mapping {api: null} in YAML.
        message += " (YAML reads a value ending in ':' as a mapping: quote it)"
    if kind in _BOUND_ERRORS:
        message = _range_message(key, raw) or message
    if kind.startswith("int_") and key and str(key[-1]).endswith("_mb"):
        message += " of MB, without a unit (e.g. 1024)"
    if kind.startswith("date_"):
        detail = message.removeprefix("Input should be a valid date or datetime, ")
        # pydantic's detail helps for a month 13; its words on a time of day, on
        # short text or on a number it took for a Unix time do not.
        is_range = isinstance(found, str) and "range" in detail
        message = "expected a date as YYYY-MM-DD" + (f" ({detail})" if is_range else "")
    if isinstance(found, bool) and kind in ("int_parsing", "float_parsing"):
        message = "expected a number, not a yes/no value"
    if kind == "string_pattern_mismatch" and key == ("name",):
        message = (
            "expected letters, digits, '.', '_' or '-', starting with a letter or digit"
            " (it names the results folder)"
        )
    shown = _show(found)
    converted = error.get("input")
    if isinstance(found, str) and isinstance(converted, float):
        shown += f" (= {converted:g} s)"
    return _locate(
        source, lines, key, f"{_dotted(key)} is {shown}; {_expected(message)}"
    )


def _raw_value(raw: Mapping[str, Any], key: PathKey, default: Any) -> Any:
    """Return the value as the user wrote it (before unit conversion), if found."""
    node: Any = raw
    for part in key:
        if not _has_child(node, part):
            return default
        node = node[part]
    return node


def _expected(message: str) -> str:
    message = _MODEL_TYPE.sub("a mapping of its keys (see the README)", message)
    lowered = message[:1].lower() + message[1:]
    if lowered.startswith("input should be "):
        return "expected " + lowered.removeprefix("input should be ")
    return lowered


# pydantic's "a valid dictionary or instance of ProxySpec": our class names mean
# nothing to the user.
_MODEL_TYPE = re.compile(r"a valid dictionary or instance of \w+")


def _show(found: Any) -> str:
    if isinstance(found, dict | list):
        try:  # as the user would write it in the file
            text = yaml.safe_dump(found, default_flow_style=True, width=10**6).strip()
        except yaml.YAMLError:
            text = repr(found)
        return text if len(text) <= 60 else text[:57] + "..."
    return schema.yaml_text(found)


def _clean_loc(loc: Sequence[str | int], raw: Mapping[str, Any]) -> PathKey:
    """Drop pydantic's internal steps (union tags, wrapper fields) from a location."""
    key: list[str | int] = []
    node: Any = raw
    for part in loc:
        if _has_child(node, part):
            key.append(part)
            node = node[part]
        elif _is_internal_step(part) or not isinstance(node, dict | list):
            continue
        else:
            key.append(part)
            node = None
    return tuple(key)


def _has_child(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and part < len(node)


def _is_internal_step(part: str | int) -> bool:
    """Tell whether a pydantic location step names a union member, not a key."""
    return isinstance(part, str) and (
        part in schema.SOURCE_TYPES
        or part in schema.EVENT_TYPES
        or part in KINDS
        or part in ("distribution", "preset")
        or part.endswith("Spec")
        or part.startswith("function-")
        or "[" in part
    )


def _dotted(key: PathKey) -> str:
    text = ""
    for part in key:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def _locate(
    source: str, lines: Mapping[PathKey, int | str], key: PathKey, message: str
) -> str:
    probe = key
    while probe and probe not in lines:
        probe = probe[:-1]
    where = lines.get(probe)
    if isinstance(where, str):
        return f"{source} ({where}): {message}"
    # A problem of a whole block (min above max, say) that an override inside it
    # caused names the override too.
    inside = [
        w
        for k, w in lines.items()
        if isinstance(w, str) and len(k) > len(key) and k[: len(key)] == key
    ]
    if inside and where is not None:
        return f"{source}:{where} ({', '.join(inside)}): {message}"
    return (
        f"{source}:{where}: {message}" if where is not None else f"{source}: {message}"
    )


def _unknown_key_message(key: PathKey, raw: Mapping[str, Any]) -> str:
    name = str(key[-1]) if key else "?"
    allowed = _allowed_keys(key[:-1], raw)
    where = _dotted(key[:-1])
    message = f"unknown key {name!r} in {where}"
    if allowed:
        close = difflib.get_close_matches(name, allowed, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        message += f"; allowed: {', '.join(sorted(allowed))}"
    return message


# pydantic's wording for type errors, as a user of a scenario file would put it.
_PLAIN = {
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "model_attributes_type": "expected a mapping of its keys (see the README)",
    "model_type": "expected a mapping of its keys (see the README)",
    "dict_type": "expected a mapping",
    "list_type": "expected a list",
    "string_type": "expected a string",
}
_BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _range_message(key: PathKey, raw: Mapping[str, Any]) -> str | None:
    """Say which range a bounded field allows (both ends), or None if unknown."""
    if not key or not isinstance(key[-1], str):
        return None
    model = _model_at(key[:-1], raw)[0]
    field = model.model_fields.get(key[-1]) if model is not None else None
    if field is None:
        return None
    items = list(field.metadata)
    # Bounds of an optional field sit inside its Annotated member of the union.
    for member in typing.get_args(field.annotation):
        for extra in typing.get_args(member)[1:]:
            items += [extra, *getattr(extra, "metadata", [])]
    bounds = {
        name: getattr(item, name)
        for item in items
        for name in ("ge", "gt", "le", "lt")
        if hasattr(item, name)
    }
    is_time = any(getattr(item, "func", None) is parse_duration_s for item in items)
    number = (
        "an integer"
        if int in (field.annotation, *typing.get_args(field.annotation))
        else "a time"
        if is_time
        else "a number"
    )
    unit = " s" if is_time else ""
    if "ge" in bounds and "le" in bounds:
        return f"expected {number} from {bounds['ge']:g} to {bounds['le']:g}{unit}"
    limits = [
        f"{sign} {bounds[name]:g}{unit}"
        for name, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
        if name in bounds
    ]
    return f"expected {number} {' and '.join(limits)}" if limits else None


def _model_at(parent: PathKey, raw: Mapping[str, Any]) -> tuple[Any, Any]:
    """Return the schema model at key path `parent` (or None) and the raw node."""
    annotation: Any = Scenario
    node: Any = raw
    for part in parent:
        model = _pick_model(annotation, node)
        node = _child(node, part)
        if model is not None:
            field = model.model_fields.get(str(part))
            if field is None:
                return None, node
            annotation = field.annotation
        else:
            args = typing.get_args(_unwrap(annotation))
            if not args:
                return None, node
            annotation = args[-1]
    return _pick_model(annotation, node), node


def _allowed_keys(parent: PathKey, raw: Mapping[str, Any]) -> list[str]:
    """Return the keys the schema allows at `parent`, following the raw data."""
    model, node = _model_at(parent, raw)
    if model is None:
        return []
    allowed = list(model.model_fields)
    if model is schema.DurationSpec and isinstance(node, dict):
        allowed.remove("distribution")
        allowed += _distribution_keys(node)
    return allowed


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _pick_model(annotation: Any, node: Any) -> Any:
    """Return the pydantic model `annotation` stands for, using `node` for unions."""
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (dict, list):
        return None
    candidates = [
        _unwrap(arg) for arg in typing.get_args(annotation) if arg is not type(None)
    ]
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    if len(models) == 1:
        return models[0]
    if isinstance(node, dict):
        for model in models:
            for tag in ("type", "kind"):
                field = model.model_fields.get(tag)
                if field is not None and node.get(tag) in typing.get_args(
                    field.annotation
                ):
                    return model
    return None


def _distribution_keys(node: Mapping[str, Any]) -> list[str]:
    for model in typing.get_args(_unwrap(DistributionSpec)):
        model = _unwrap(model)
        if node.get("kind") in typing.get_args(model.model_fields["kind"].annotation):
            return list(model.model_fields)
    return ["kind"]


def _missing_files(workload: Any) -> list[tuple[PathKey, str]]:
    problems: list[tuple[PathKey, str]] = []
    if not isinstance(workload, list):
        return problems
    for index, source in enumerate(workload):
        path = source.get("path") if isinstance(source, dict) else None
        if not isinstance(path, str):
            continue
        problem = _path_problem(Path(path), source.get("type") == "azure2019", index)
        if problem is not None:
            where = f"workload[{index}].path is {path!r}"
            problems.append((("workload", index, "path"), f"{where}: {problem}"))
    return problems


def _price_table_problems(path: str | None) -> list[str]:
    """Read a user's price table now, so `validate` reports its problems."""
    if path is None:
        return []
    try:
        load_price_table_file(path)
    except ScenarioError as error:
        return [f"billing.price_table: {problem}" for problem in error.problems]
    return []


_AZURE_2019_FILES = ("invocations.csv", "durations.csv", "memory.csv")


def _path_problem(target: Path, wants_folder: bool, index: int) -> str | None:
    """Say what is wrong with a trace path, or None when it is usable."""
    if wants_folder:
        expected = (
            "the Azure 2019 folder with invocations.csv, durations.csv and memory.csv"
        )
        if target.is_file():
            return f"a file; expected {expected}"
        if not target.is_dir():
            return (
                f"no such folder; expected {expected} "
                f"(override with --set workload.{index}.path=FOLDER)"
            )
        missing = [name for name in _AZURE_2019_FILES if not (target / name).is_file()]
        return f"the folder lacks {', '.join(missing)}" if missing else None
    if target.is_dir():
        return "a folder; expected a trace file (CSV or Parquet)"
    if not target.is_file():
        return f"no such file (override with --set workload.{index}.path=FILE)"
    return None


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)
