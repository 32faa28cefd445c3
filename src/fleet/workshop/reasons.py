"""Why something falls due on an item, and why an item is not ready: a code with parameters.

The pages translate a reason from its code (``fwm.reason_<code>`` in the translation bundle,
parameters in braces); ``english`` renders the same sentence in English for the API's ``reason``
and ``blocked_reason`` text fields, the due list's CSV and PDF, the reminder e-mails and a
refused test start. A due entry's reason is stored in ``workshop_due.reason`` as this JSON
(``{"code": ..., "params": {...}}``); a plain text stored by an older version reads back as the
code ``text``.

Codes and their parameters:

- ``interval``: ``component`` ("" for the item), ``kind_of_test``, ``months`` (None: after each
  use), ``counted`` (last_passed, manufacture, registration, use, repair, fitting), ``anchor``
  (the day counted from), ``source``, ``source_text``
- ``life_limit``: ``component``, ``months``, ``counted`` (manufacture, fitting), ``anchor``,
  ``source``, ``source_text``
- ``part_life``: ``part_number``, ``months``, ``anchor``
- ``decommissioned``; ``in_repair`` and ``repair_done``: ``order``; ``test_failed``:
  ``report``; ``blocked`` and ``test_due``: ``since`` and ``due`` (a due entry's reason)
- ``text``: ``text``
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

COUNTED = {
    "last_passed": "last passed test",
    "manufacture": "manufacture",
    "registration": "registration",
    "use": "use",
    "repair": "repair",
    "fitting": "fitting",
}


@dataclass(frozen=True)
class Reason:
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "params": self.params}

    def dump(self) -> str:
        """The stored form (``workshop_due.reason``)."""
        return json.dumps(self.as_dict(), sort_keys=True, ensure_ascii=False)

    def english(self) -> str:
        return english(self.code, self.params)


def load(stored: str) -> Reason:
    """Read a stored reason back (a plain text from an older version becomes ``text``)."""
    try:
        value = json.loads(stored)
    except ValueError:
        return Reason("text", {"text": stored})
    if not isinstance(value, dict) or not isinstance(value.get("code"), str):
        return Reason("text", {"text": stored})
    params = value.get("params")
    return Reason(value["code"], params if isinstance(params, dict) else {})


def english(code: str, p: dict[str, Any]) -> str:
    """The reason as an English sentence (the wording the API has always answered)."""
    if code == "interval":
        what = f"{p['component']} " if p.get("component") else ""
        every = "after each use" if p.get("months") is None else f"every {p['months']} months"
        return (
            f"{what}{p['kind_of_test']} {every} from {COUNTED.get(p['counted'], p['counted'])} "
            f"{p['anchor']} ({p['source']}: {p['source_text']})"
        )
    if code == "life_limit":
        return (
            f"{p.get('component') or 'item'} life limit {p['months']} months from "
            f"{COUNTED.get(p['counted'], p['counted'])} {p['anchor']} "
            f"({p['source']}: {p['source_text']})"
        )
    if code == "part_life":
        return f"part {p['part_number']} life {p['months']} months from fitting {p['anchor']}"
    if code == "decommissioned":
        return "the item is decommissioned"
    if code in ("blocked", "test_due"):
        due = p.get("due") or {}
        inner = english(str(due.get("code", "text")), due.get("params") or {})
        return f"{'overdue' if code == 'blocked' else 'due'} since {p['since']}: {inner}"
    if code == "in_repair":
        return f"repair order {p['order']} is open"
    if code == "repair_done":
        return f"repair order {p['order']} is done; a passed test after it releases the item"
    if code == "test_failed":
        return f"test {p['report']} failed"
    return str(p.get("text", code))
