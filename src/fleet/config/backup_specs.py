"""One spec per table of a configuration backup: how an item of the table is shaped, what names
it (its natural key), what a restore writes of it, which rows it must refer to, and which
JSON template validates its value. ``fleet.config.backups`` checks and plans a restore by
walking ``SPECS``; nothing here writes.

A restore is planned in two passes. The first checks the document as a whole: no item twice
(by natural key), every reference resolvable (users, the scenario of a step, the device of a
device configuration), every template well-formed; any problem fails it before anything is
compared. The second compares every item with its row (``created``, ``updated`` with the
changed fields, or ``unchanged``) and validates values against the JSON templates as they will
be after the restore, which is why ``json_templates`` comes first in ``SPECS``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.config import templates
from fleet.models import (
    Configuration,
    Device,
    JsonTemplate,
    TestScenario,
    TestStep,
    Translation,
    User,
)
from fleet.pacing import Pacer
from fleet.validation import SchemaIssue, check_template, validate

Item = dict[str, Any]

_NULL_STR = {"type": ["string", "null"]}
_NULL_INT = {"type": ["integer", "null"]}
_KEY = {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"^[A-Za-z0-9_.\-]+$"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Op:
    """One planned change: a row to create, to update (``fields`` changed) or left unchanged."""

    table: str
    action: str  # created | updated | unchanged
    ident: Any
    values: dict[str, Any]
    target: Any = None
    fields: list[str] = field(default_factory=list)


@dataclass
class Restoring:
    """What the checks of one restore share: the database, the document's tables, the rows
    the document's items match (by table, then natural key), and the pacer to yield with."""

    session: AsyncSession
    pacer: Pacer
    tables: dict[str, list[Item]]
    existing: dict[str, dict[Any, Any]] = field(default_factory=dict)

    def items(self, table: str) -> list[Item]:
        return self.tables.get(table, [])


Loader = Callable[[AsyncSession, list[Item]], Awaitable[dict[Any, Any]]]
Checker = Callable[[Restoring, list[Item]], Awaitable[list[SchemaIssue]]]


@dataclass(frozen=True)
class Validated:
    """A column whose value is validated by the schema of a JSON template: the active template
    of ``template_type`` whose category the item names (``category(item, values, row)``)."""

    template_type: str
    column: str
    category: Callable[[Item, dict[str, Any], Any], str | None]


@dataclass(frozen=True)
class TableSpec:
    """How a restore treats the items of one table."""

    table: str
    model: type[Any]
    item_schema: dict[str, Any]
    key: Callable[[Item], Any]  # the natural key: unique in a backup, matches the row
    written: tuple[str, ...]  # the columns a restore writes, read from the item
    load: Loader  # the rows the items match, by natural key
    compared: tuple[str, ...] | None = None  # what tells updated from unchanged (else written)
    ident: Callable[[Item], Any] | None = None  # how a change is named (else the key)
    defaults: Callable[[dict[str, Any]], None] | None = None  # fills what an item left out
    created_extra: Callable[[Item], dict[str, Any]] | None = None  # more columns of a new row
    creates: bool = True  # False: the rows must exist (a backup only updates them)
    keeps_id: bool = False  # a new row takes the item's id
    users: tuple[str, ...] = ()  # columns naming a user, who must exist
    references: Checker | None = None  # the table's own whole-document checks
    validated: Validated | None = None
    columns: dict[str, str] = field(default_factory=dict)  # item name -> attribute name
    on_write: Callable[[dict[str, Any], Op, int], None] | None = None  # stamps on every write

    def name(self, item: Item) -> Any:
        return (self.ident or self.key)(item)

    def values(self, item: Item) -> dict[str, Any]:
        values = {k: item.get(k) for k in self.written}
        if self.defaults is not None:
            self.defaults(values)
        return values

    def current(self, row: Any) -> dict[str, Any]:
        return {k: getattr(row, self.columns.get(k, k)) for k in self.compared or self.written}


def diff(current: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """The names whose wanted value differs from the current one, sorted."""
    return sorted(k for k, v in wanted.items() if current.get(k) != v)


def unique(items: list[Item], table: str, key: Callable[[Item], Any]) -> list[SchemaIssue]:
    """An issue for every item whose natural key an earlier item of the table has."""
    seen: dict[Any, int] = {}
    issues = []
    for n, item in enumerate(items):
        k = key(item)
        if k in seen:
            issues.append(
                SchemaIssue(f"/tables/{table}/{n}", f"duplicate of item {seen[k]} ({k!r})")
            )
        else:
            seen[k] = n
    return issues


async def unknown_users(restoring: Restoring, specs: tuple[TableSpec, ...]) -> list[SchemaIssue]:
    """An issue for every user column of every table naming a user that does not exist."""
    refs = {
        (spec.table, n, col): item[col]
        for spec in specs
        for col in spec.users
        for n, item in enumerate(restoring.items(spec.table))
        if item.get(col) is not None
    }
    if not refs:
        return []
    known = set(
        (
            await restoring.session.scalars(select(User.id).where(User.id.in_(set(refs.values()))))
        ).all()
    )
    return [
        SchemaIssue(f"/tables/{t}/{n}/{col}", f"user {uid} does not exist")
        for (t, n, col), uid in refs.items()
        if uid not in known
    ]


class Templates:
    """The JSON templates as they will be after the restore (the rows, with the planned
    creations and updates of ``json_templates`` over them): the schema that validates a value."""

    def __init__(self, rows: dict[int, JsonTemplate], ops: list[Op]) -> None:
        self.final: dict[int, JsonTemplate | dict[str, Any]] = dict(rows)
        self.touched: set[int] = set()
        for op in ops:
            if op.table == "json_templates" and op.action != "unchanged":
                self.final[op.ident] = {**op.values, "id": op.ident}
                self.touched.add(op.ident)

    def schema_for(self, template_type: str, category: str | None) -> Any:
        """The schema ``template_for`` would find after the restore: the active templates of
        the type (and category, if given), the restored ones first, then newest, then by id."""
        found = []
        for tid, t in self.final.items():
            vals = (
                t
                if isinstance(t, dict)
                else {
                    "template_type": t.template_type,
                    "category": t.category,
                    "is_active": t.is_active,
                }
            )
            if vals["template_type"] != template_type or not vals["is_active"]:
                continue
            if category is not None and vals["category"] != category:
                continue
            updated = _EPOCH if isinstance(t, dict) else (t.updated_at or _EPOCH)
            found.append(((tid in self.touched, updated, tid), t))
        if not found:
            return None
        _, best = max(found, key=lambda pair: pair[0])
        return best["schema"] if isinstance(best, dict) else best.schema_


async def plan(
    spec: TableSpec, restoring: Restoring, templates: Templates | None
) -> tuple[list[Op], list[SchemaIssue]]:
    """Compare every item of one table with its row; answer the changes and the values that
    do not match their JSON template."""
    ops: list[Op] = []
    issues: list[SchemaIssue] = []
    rows = restoring.existing[spec.table]
    for n, item in enumerate(restoring.items(spec.table)):
        await restoring.pacer.tick()
        values = spec.values(item)
        row = rows.get(spec.key(item))
        check = spec.validated
        if check is not None and templates is not None and values[check.column] is not None:
            schema = templates.schema_for(check.template_type, check.category(item, values, row))
            if schema is not None:
                issues += [
                    SchemaIssue(
                        f"/tables/{spec.table}/{n}/{check.column}{i.path.rstrip('/')}", i.message
                    )
                    for i in validate(values[check.column], schema)
                ]
        if row is None:
            assert spec.creates, f"{spec.table}: the first pass checks the rows exist"
            extra = spec.created_extra(item) if spec.created_extra else {}
            ops.append(Op(spec.table, "created", spec.name(item), {**values, **extra}))
            continue
        wanted = {k: values[k] for k in spec.compared or spec.written}
        changed = diff(spec.current(row), wanted)
        ops.append(
            Op(
                spec.table,
                "updated" if changed else "unchanged",
                spec.name(item),
                values,
                row,
                changed,
            )
        )
    return ops, issues


# ---- loading the rows the items match --------------------------------------------------------


async def _all_templates(session: AsyncSession, _items: list[Item]) -> dict[Any, Any]:
    return {t.id: t for t in await session.scalars(select(JsonTemplate))}


async def _all_configurations(session: AsyncSession, _items: list[Item]) -> dict[Any, Any]:
    return {c.config_key: c for c in await session.scalars(select(Configuration))}


async def _translations(session: AsyncSession, items: list[Item]) -> dict[Any, Any]:
    if not items:
        return {}
    return {(tr.key, tr.language): tr for tr in await session.scalars(select(Translation))}


async def _devices(session: AsyncSession, items: list[Item]) -> dict[Any, Any]:
    numbers = [i["device_number"] for i in items]
    devices: dict[Any, Any] = {}
    for start in range(0, len(numbers), 1000):
        chunk = numbers[start : start + 1000]
        for d in await session.scalars(select(Device).where(Device.device_number.in_(chunk))):
            devices[d.device_number] = d
    return devices


async def _scenarios(session: AsyncSession, items: list[Item]) -> dict[Any, Any]:
    ids = [i["id"] for i in items]
    return {
        s.id: s for s in await session.scalars(select(TestScenario).where(TestScenario.id.in_(ids)))
    }


async def _steps(session: AsyncSession, items: list[Item]) -> dict[Any, Any]:
    ids = [i["id"] for i in items]
    return {s.id: s for s in await session.scalars(select(TestStep).where(TestStep.id.in_(ids)))}


# ---- the tables' own whole-document checks ---------------------------------------------------


async def _templates_well_formed(restoring: Restoring, items: list[Item]) -> list[SchemaIssue]:
    issues = []
    for n, item in enumerate(items):
        await restoring.pacer.tick()
        for issue in check_template(item["schema"], item["default_values"]):
            issues.append(SchemaIssue(f"/tables/json_templates/{n}{issue.path}", issue.message))
    return issues


async def _devices_exist(restoring: Restoring, items: list[Item]) -> list[SchemaIssue]:
    found = restoring.existing["devices"]
    issues = []
    for n, item in enumerate(items):
        await restoring.pacer.tick()
        number = item["device_number"]
        if number not in found:
            issues.append(
                SchemaIssue(
                    f"/tables/devices/{n}/device_number", f"device {number!r} does not exist"
                )
            )
    return issues


async def _scenarios_of_steps_exist(restoring: Restoring, items: list[Item]) -> list[SchemaIssue]:
    scenario_ids = {i["id"] for i in restoring.items("test_scenarios")}
    missing = {i["scenario_id"] for i in items} - scenario_ids
    if missing:
        scenario_ids |= set(
            (
                await restoring.session.scalars(
                    select(TestScenario.id).where(TestScenario.id.in_(missing))
                )
            ).all()
        )
    issues = []
    for n, item in enumerate(items):
        await restoring.pacer.tick()
        if item["scenario_id"] not in scenario_ids:
            issues.append(
                SchemaIssue(
                    f"/tables/test_steps/{n}/scenario_id",
                    f"test scenario {item['scenario_id']} does not exist",
                )
            )
    return issues


# ---- defaults and stamps ----------------------------------------------------------------------


def _active_by_default(values: dict[str, Any]) -> None:
    values["is_active"] = True if values["is_active"] is None else values["is_active"]


def _step_defaults(values: dict[str, Any]) -> None:
    values["auto_test"] = bool(values["auto_test"])
    if values["operator_participation"] is None:
        values["operator_participation"] = True


def _stamp_configuration(values: dict[str, Any], op: Op, user_id: int) -> None:
    values["updated_by"] = user_id
    values.setdefault("config_key", op.ident)


# ---- the specs ----------------------------------------------------------------------------------

JSON_TEMPLATES = TableSpec(
    table="json_templates",
    model=JsonTemplate,
    item_schema={
        "type": "object",
        "required": ["id", "name", "template_type", "schema", "default_values"],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "name": {"type": "string", "minLength": 1, "maxLength": 255},
            "template_type": {"type": "string", "minLength": 1, "maxLength": 100},
            "category": {"type": ["string", "null"], "maxLength": 100},
            "schema": True,
            "default_values": True,
            "description": _NULL_STR,
            "is_active": {"type": ["boolean", "null"]},
            "created_by": _NULL_INT,
            "created_at": _NULL_STR,
            "updated_at": _NULL_STR,
        },
        "additionalProperties": False,
    },
    key=lambda i: i["id"],
    written=(*templates.FIELDS, "created_by"),  # the API's writable fields, and its author
    load=_all_templates,
    defaults=_active_by_default,
    keeps_id=True,
    users=("created_by",),
    references=_templates_well_formed,
    columns={"schema": "schema_"},
)

CONFIGURATIONS = TableSpec(
    table="configurations",
    model=Configuration,
    item_schema={
        "type": "object",
        "required": ["config_key", "config_value"],
        "properties": {
            "config_key": _KEY,
            "config_value": {"not": {"type": "null"}},
            "component": {"enum": ["CPP", "CM", "FDM", "FCM", "FSM", None]},
            "updated_by": _NULL_INT,
            "id": _NULL_INT,
            "updated_at": _NULL_STR,
        },
        "additionalProperties": False,
    },
    key=lambda i: i["config_key"],
    written=("config_value", "component", "updated_by"),
    compared=("config_value", "component"),
    load=_all_configurations,
    validated=Validated("system_config", "config_value", lambda item, _v, _r: item["config_key"]),
    on_write=_stamp_configuration,
)

TRANSLATIONS = TableSpec(
    table="translations",
    model=Translation,
    item_schema={
        "type": "object",
        "required": ["key", "language", "value"],
        "properties": {
            "key": {"type": "string", "minLength": 1, "maxLength": 255},
            "language": {"type": "string", "pattern": r"^[a-z]{2,3}(-[A-Za-z0-9]{2,4})?$"},
            "value": {"type": "string", "minLength": 1, "pattern": r"\S"},
            "component": {"type": ["string", "null"], "maxLength": 50},
            "id": _NULL_INT,
            "created_at": _NULL_STR,
        },
        "additionalProperties": False,
    },
    key=lambda i: (i["key"], i["language"]),
    ident=lambda i: f"{i['language']}:{i['key']}",
    written=("value", "component"),
    load=_translations,
    created_extra=lambda i: {"key": i["key"], "language": i["language"]},
)

DEVICES = TableSpec(
    table="devices",
    model=Device,
    item_schema={
        "type": "object",
        "required": ["device_number", "configuration"],
        "properties": {
            "device_number": {"type": "string", "minLength": 1, "maxLength": 100},
            "configuration": {"type": ["object", "null"]},
            "id": _NULL_INT,
            "device_type": _NULL_STR,
        },
        "additionalProperties": False,
    },
    key=lambda i: i["device_number"],
    written=("configuration",),
    load=_devices,
    creates=False,
    references=_devices_exist,
    validated=Validated("device_config", "configuration", lambda _i, _v, row: row.device_type),
)

TEST_SCENARIOS = TableSpec(
    table="test_scenarios",
    model=TestScenario,
    item_schema={
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "name": {"type": "string", "minLength": 1, "maxLength": 255},
            "description": _NULL_STR,
            "device_type": {"type": ["string", "null"], "maxLength": 100},
            "test_flow": {"type": ["object", "null"]},
            "is_active": {"type": ["boolean", "null"]},
            "created_by": _NULL_INT,
            "created_at": _NULL_STR,
            "updated_at": _NULL_STR,
        },
        "additionalProperties": False,
    },
    key=lambda i: i["id"],
    written=("name", "description", "device_type", "test_flow", "is_active", "created_by"),
    load=_scenarios,
    defaults=_active_by_default,
    keeps_id=True,
    users=("created_by",),
    validated=Validated("test_flow", "test_flow", lambda _i, values, _r: values["device_type"]),
)

TEST_STEPS = TableSpec(
    table="test_steps",
    model=TestStep,
    item_schema={
        "type": "object",
        "required": ["id", "scenario_id", "step_order", "step_name"],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "scenario_id": {"type": "integer"},
            "step_order": {"type": "integer"},
            "step_name": {"type": "string", "minLength": 1, "maxLength": 255},
            "description": _NULL_STR,
            "parameters": {"type": ["object", "null"]},
            "criteria": {"type": ["object", "null"]},
            "auto_test": {"type": ["boolean", "null"]},
            "operator_participation": {"type": ["boolean", "null"]},
            "created_at": _NULL_STR,
        },
        "additionalProperties": False,
    },
    key=lambda i: i["id"],
    written=(
        "scenario_id",
        "step_order",
        "step_name",
        "description",
        "parameters",
        "criteria",
        "auto_test",
        "operator_participation",
    ),
    load=_steps,
    defaults=_step_defaults,
    keeps_id=True,
    references=_scenarios_of_steps_exist,
)

# The order a restore plans and applies them in: templates first (the other tables' values
# validate against the templates as restored), a step after its scenario.
SPECS: tuple[TableSpec, ...] = (
    JSON_TEMPLATES,
    CONFIGURATIONS,
    TRANSLATIONS,
    DEVICES,
    TEST_SCENARIOS,
    TEST_STEPS,
)
BY_TABLE: dict[str, TableSpec] = {spec.table: spec for spec in SPECS}
