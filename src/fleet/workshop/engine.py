"""The readiness and due-date engine: pure functions over an item's records, no database.

Rules are data (``workshop_interval_rules``). For one item, each rule that applies gives at most
two entries: its interval (what test falls due when) and its life limit (when the item or the
component must leave service). Where several rules give the same (component, kind of test), the
earliest date wins: the stricter of a regulation and a manufacturer's rule.

How a rule's interval is counted, by its trigger:

A test satisfies a rule when its kind of test is the rule's or one the rule accepts.

- ``manufacture``: from the last passed test of the rule's kind, or from manufacture (the
  registration date when the manufacture date is unknown) if never tested.
- ``use``: from the first use recorded after the last passed test of the rule's kind; nothing is
  due without such a use. ``after_each_use`` means due at that use.
- ``repair``: from the first repair finished after the last passed test of the rule's kind.
- ``fitting``: a component's clock, from the date the component was fitted; a test does not reset
  it, fitting a new one does.

Life limits count from manufacture (the item; not applied when the date is unknown) or from
fitting (a component; a fitted part's own life in the parts catalog is a life limit too). An
overdue item test makes the item ``test_required``; an overdue component or an expired life
limit makes it ``blocked``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from fleet.due import add_months
from fleet.workshop.reasons import Reason

TRIGGERS = ("use", "repair", "fitting", "manufacture")
READINESS = ("ready", "in_repair", "test_required", "blocked", "decommissioned")
END_OF_LIFE = "end_of_life"


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    device_type: str | None
    kind_of_device: str | None
    component: str | None
    kind_of_test: str
    interval_months: int | None
    after_each_use: bool
    trigger: str
    life_limit_months: int | None
    source: str
    source_text: str
    tests_accepted: tuple[str, ...] = ()


@dataclass
class ItemFacts:
    """What the engine needs to know about one item."""

    device_type: str
    kind_of_device: str | None
    registered_at: datetime
    status: str | None = None
    manufactured_on: datetime | None = None
    uses: list[datetime] = field(default_factory=list)
    # newest passed test per kind of test
    last_passed: dict[str, datetime] = field(default_factory=dict)
    repairs_done: list[datetime] = field(default_factory=list)
    # current fitting date per component
    components: dict[str, datetime] = field(default_factory=dict)
    # the fitted part's own life per component: (months, part number)
    part_life: dict[str, tuple[int, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class DueEntry:
    component: str  # "" for the item itself
    kind_of_test: str
    due_at: datetime
    effect: str  # "test" (the item needs a test) or "block" (it must not be used)
    rule_id: int | None  # None: the fitted part's own life from the parts catalog
    cause: Reason  # why it falls due (a code with parameters, see reasons.py)

    @property
    def reason(self) -> str:
        return self.cause.english()


def applies(rule: Rule, facts: ItemFacts) -> bool:
    """Tell whether a rule is for this item's type and kind (and, for a component, fitted)."""
    if rule.device_type and rule.device_type != facts.device_type:
        return False
    if rule.kind_of_device and rule.kind_of_device != facts.kind_of_device:
        return False
    return not rule.component or rule.component in facts.components


def last_passed(rule: Rule, facts: ItemFacts) -> datetime | None:
    """The newest passed test that satisfies a rule: its own kind or one it accepts."""
    times = [
        facts.last_passed[k]
        for k in (rule.kind_of_test, *rule.tests_accepted)
        if k in facts.last_passed
    ]
    return max(times) if times else None


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


def _interval(rule: Rule, facts: ItemFacts) -> DueEntry | None:
    if rule.interval_months is None and not rule.after_each_use:
        return None
    months = 0 if rule.after_each_use else (rule.interval_months or 0)
    last = last_passed(rule, facts)
    if rule.trigger == "manufacture":
        base = facts.manufactured_on or facts.registered_at
        anchor = max(base, last) if last else base
        if last and last >= base:
            counted = "last_passed"
        else:
            counted = "manufacture" if facts.manufactured_on else "registration"
    elif rule.trigger == "use":
        after = [u for u in facts.uses if last is None or u > last]
        if not after:
            return None
        anchor, counted = min(after), "use"
    elif rule.trigger == "repair":
        after = [r for r in facts.repairs_done if last is None or r > last]
        if not after:
            return None
        anchor, counted = min(after), "repair"
    elif rule.trigger == "fitting":
        if not rule.component:
            return None
        anchor, counted = facts.components[rule.component], "fitting"
    else:
        return None
    return DueEntry(
        component=rule.component or "",
        kind_of_test=rule.kind_of_test,
        due_at=add_months(anchor, months),
        effect="block" if rule.component else "test",
        rule_id=rule.id,
        cause=Reason(
            "interval",
            {
                "component": rule.component or "",
                "kind_of_test": rule.kind_of_test,
                "months": None if rule.after_each_use else months,
                "counted": counted,
                "anchor": _day(anchor),
                "source": rule.source,
                "source_text": rule.source_text,
            },
        ),
    )


def _life(rule: Rule, facts: ItemFacts) -> DueEntry | None:
    if rule.life_limit_months is None:
        return None
    if rule.component:
        base, counted = facts.components[rule.component], "fitting"
    elif facts.manufactured_on is not None:
        base, counted = facts.manufactured_on, "manufacture"
    else:
        return None
    return DueEntry(
        component=rule.component or "",
        kind_of_test=END_OF_LIFE,
        due_at=add_months(base, rule.life_limit_months),
        effect="block",
        rule_id=rule.id,
        cause=Reason(
            "life_limit",
            {
                "component": rule.component or "",
                "months": rule.life_limit_months,
                "counted": counted,
                "anchor": _day(base),
                "source": rule.source,
                "source_text": rule.source_text,
            },
        ),
    )


def compute_due(rules: list[Rule], facts: ItemFacts) -> list[DueEntry]:
    """Answer what falls due on an item and its components; the stricter rule wins per
    (component, kind of test). Sorted by due date."""
    best: dict[tuple[str, str], DueEntry] = {}
    for rule in sorted(rules, key=lambda r: r.id):
        if not applies(rule, facts):
            continue
        for entry in (_interval(rule, facts), _life(rule, facts)):
            if entry is None:
                continue
            key = (entry.component, entry.kind_of_test)
            if key not in best or entry.due_at < best[key].due_at:
                best[key] = entry
    for component, (months, part_number) in facts.part_life.items():
        fitted = facts.components.get(component)
        if fitted is None:
            continue
        entry = DueEntry(
            component=component,
            kind_of_test=END_OF_LIFE,
            due_at=add_months(fitted, months),
            effect="block",
            rule_id=None,
            cause=Reason(
                "part_life",
                {"part_number": part_number, "months": months, "anchor": _day(fitted)},
            ),
        )
        key = (component, END_OF_LIFE)
        if key not in best or entry.due_at < best[key].due_at:
            best[key] = entry
    return sorted(best.values(), key=lambda e: (e.due_at, e.component, e.kind_of_test))


@dataclass(frozen=True)
class LastTest:
    report_id: int
    tested_at: datetime
    failed: bool


@dataclass(frozen=True)
class RepairState:
    active_order_id: int | None  # an open or in-progress order
    last_done_order_id: int | None
    last_done_at: datetime | None


@dataclass(frozen=True)
class Readiness:
    readiness: str
    cause: Reason | None = None  # why (a code with parameters, see reasons.py)

    @property
    def reason(self) -> str | None:
        return self.cause.english() if self.cause else None

    @property
    def blocked_reason(self) -> str | None:
        return self.reason if self.readiness == "blocked" else None


def readiness(
    *,
    status: str | None,
    repairs: RepairState,
    last_test: LastTest | None,
    last_passed_at: datetime | None,
    due: list[tuple[datetime, str, Reason]],
    now: datetime,
) -> Readiness:
    """Derive an item's readiness from its records; ``due`` holds (due_at, effect, reason).

    Decommissioned beats everything; then a block (life limit, overdue component); then an open
    repair; then a finished repair without a passed test after it; then a failed last test;
    then an overdue test; else ready.
    """
    if status == "decommissioned":
        return Readiness("decommissioned", Reason("decommissioned"))
    blocks = _earliest(due, "block", now)
    if blocks:
        since = {"since": _day(blocks[0]), "due": blocks[2].as_dict()}
        return Readiness("blocked", Reason("blocked", since))
    if repairs.active_order_id is not None:
        return Readiness("in_repair", Reason("in_repair", {"order": repairs.active_order_id}))
    done_at = repairs.last_done_at
    if done_at is not None and (last_passed_at is None or last_passed_at <= done_at):
        if last_test is None or last_test.tested_at <= done_at or not last_test.failed:
            return Readiness(
                "test_required", Reason("repair_done", {"order": repairs.last_done_order_id})
            )
    if last_test is not None and last_test.failed:
        return Readiness("test_required", Reason("test_failed", {"report": last_test.report_id}))
    tests = _earliest(due, "test", now)
    if tests:
        since = {"since": _day(tests[0]), "due": tests[2].as_dict()}
        return Readiness("test_required", Reason("test_due", since))
    return Readiness("ready")


def _earliest(
    due: list[tuple[datetime, str, Reason]], effect: str, now: datetime
) -> tuple[datetime, str, Reason] | None:
    """The earliest entry of an effect that is due by now (ties: by the English sentence)."""
    found = [d for d in due if d[1] == effect and d[0] <= now]
    return min(found, key=lambda d: (d[0], d[2].english())) if found else None
