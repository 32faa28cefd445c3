"""The one JSON Schema validation service (Draft 2020-12) that devices, scenarios,
system configs and templates all call."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from fleet.errors import PoisonValue, ValidationFailed


@dataclass(frozen=True)
class SchemaIssue:
    """One problem: a JSON Pointer-like path into the document and a message."""

    path: str
    message: str


def _pointer(parts: Any) -> str:
    return "/" + "/".join(str(p) for p in parts) if parts else "/"


def check_schema(schema: Any) -> list[SchemaIssue]:
    """Return the problems that make ``schema`` an invalid Draft 2020-12 JSON Schema."""
    if not isinstance(schema, (dict, bool)):
        return [SchemaIssue("/", "a JSON Schema must be an object or a boolean")]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [SchemaIssue(_pointer(exc.absolute_path), exc.message)]
    return []


def validate(document: Any, schema: Any) -> list[SchemaIssue]:
    """Validate ``document`` against ``schema``; answers every problem, sorted by path."""
    return validator_for(schema)(document)


def validator_for(schema: Any) -> Callable[[Any], list[SchemaIssue]]:
    """Build the validation of one schema once, to check many documents with it."""
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)

    def check(document: Any) -> list[SchemaIssue]:
        issues = [
            SchemaIssue(_pointer(e.absolute_path), e.message)
            for e in validator.iter_errors(document)
        ]
        return sorted(issues, key=lambda i: (i.path, i.message))

    return check


def raise_if_invalid(issues: list[SchemaIssue], what: str) -> None:
    """Raise a 422 carrying every issue with its path."""
    if issues:
        raise ValidationFailed(
            {"message": f"{what} is not valid", "errors": [asdict(i) for i in issues]}
        )


def check_template(schema: Any, default_values: Any) -> list[SchemaIssue]:
    """Return the problems of a template: its schema first, then its defaults against it.

    Paths are prefixed with ``/schema`` or ``/default_values`` so a client can tell which part
    of the template is wrong.
    """
    problems = check_schema(schema)
    if problems:
        return [SchemaIssue(f"/schema{p.path.rstrip('/')}", p.message) for p in problems]
    return [
        SchemaIssue(f"/default_values{p.path.rstrip('/')}", p.message)
        for p in validate(default_values, schema)
    ]


# ---------------------------------------------------------------- the input policy
#
# One policy for every value that enters the system: through the API (checked at the edge by
# ``fleet.edge``), an import, a configuration restore or a whole-database restore (checked
# where those parse, and once more where any value is written: ``fleet.db``).

INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MIN_YEAR, MAX_YEAR = 1900, 9999


@dataclass(frozen=True)
class JsonLimits:
    """How deep a JSON document may nest and how large one JSON field may be."""

    max_depth: int = 32
    max_field_bytes: int = 20 * 1024 * 1024


LIMITS = JsonLimits()


def configure(max_depth: int, max_field_bytes: int) -> None:
    """Set the process-wide JSON limits from the settings."""
    global LIMITS
    LIMITS = JsonLimits(max_depth=max_depth, max_field_bytes=max_field_bytes)


def _refuse_constant(name: str) -> Any:
    raise PoisonValue(f"{name} is not a JSON number")


def check_json_value(value: Any, max_depth: int | None = None) -> None:
    """Refuse NaN/Infinity, numbers outside float/int64 range, NUL in any string or key, and
    nesting deeper than the limit. Iterative, so no document can exhaust the stack."""
    limit = LIMITS.max_depth if max_depth is None else max_depth
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 1, ())]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise PoisonValue("text must not contain the NUL character", path)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                raise PoisonValue("integer outside the 64-bit range", path)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise PoisonValue("number must be finite (no NaN or Infinity)", path)
        elif isinstance(item, dict | list):
            if depth > limit:
                raise PoisonValue(f"JSON nested deeper than {limit} levels", path)
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str) and "\x00" in key:
                        raise PoisonValue("a key must not contain the NUL character", path)
                    stack.append((child, depth + 1, (*path, str(key))))
            else:
                for index, child in enumerate(item):
                    stack.append((child, depth + 1, (*path, index)))


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > 19:  # int64 has at most 19 digits: no slow huge-int parse
        raise PoisonValue("integer outside the 64-bit range")
    return int(text)


def strict_decoder() -> json.JSONDecoder:
    """A decoder that refuses NaN/Infinity and huge integers while it parses (for parsers that
    decode a document piece by piece; check each piece with ``check_json_value`` too)."""
    return json.JSONDecoder(parse_constant=_refuse_constant, parse_int=_parse_int)


def loads_strict(text: str | bytes, max_depth: int | None = None) -> Any:
    """Parse JSON under the policy; ``json.JSONDecodeError`` for text that is not JSON,
    ``PoisonValue`` for JSON the policy refuses."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int)
    except RecursionError:
        raise PoisonValue("JSON nested too deeply") from None
    check_json_value(value, max_depth)
    return value


def check_json_field(value: Any) -> None:
    """The policy for one JSON field (a column): the document checks and the size limit."""
    check_json_value(value)
    size = len(dumps_strict(value))
    if size > LIMITS.max_field_bytes:
        raise PoisonValue(f"JSON field larger than {LIMITS.max_field_bytes} bytes")


def dumps_strict(value: Any) -> str:
    """Serialise JSON for the database: refuses NaN and Infinity instead of writing them."""
    try:
        return json.dumps(value, allow_nan=False, ensure_ascii=False)
    except ValueError:
        raise PoisonValue("number must be finite (no NaN or Infinity)") from None
    except RecursionError:
        raise PoisonValue("JSON nested too deeply") from None


def check_datetime(value: datetime) -> datetime:
    """Refuse timestamps outside the years 1900-9999."""
    try:
        utc = value.astimezone(UTC) if value.tzinfo is not None else value
    except OverflowError:
        utc = datetime.min
    if not (MIN_YEAR <= value.year <= MAX_YEAR and MIN_YEAR <= utc.year <= MAX_YEAR):
        raise PoisonValue(f"date-time outside the years {MIN_YEAR}-{MAX_YEAR}")
    return value


def check_text(value: str) -> str:
    """Refuse text carrying the NUL character."""
    if "\x00" in value:
        raise PoisonValue("text must not contain the NUL character")
    return value
