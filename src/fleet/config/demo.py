"""Demo data of the Fleet Config Manager (``fleet demo``): system settings, JSON templates and
the English and Polish UI texts. Idempotent: existing keys and templates are left alone."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.config.translations import static_bundle
from fleet.models import Configuration, JsonTemplate, Translation

DEVICE_TYPES = (
    "mask_tester",
    "pressure_sensor",
    "flow_meter",
    "temperature_sensor",
    "humidity_sensor",
)

# (key, component, value, JSON Schema of the value — stored as a system_config template)
SETTINGS: list[tuple[str, str | None, Any, dict[str, Any]]] = [
    (
        "test_intervals",
        "CPP",
        {"after_use": 0, "four_monthly": 4, "yearly": 12},
        {
            "type": "object",
            "description": "Months until the next test, per kind of test "
            "(0: due again at the next use).",
            "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 120},
            "minProperties": 1,
        },
    ),
    (
        "pressure_labels",
        "CPP",
        {
            "pressure_low": "Underpressure",
            "pressure_high": "Overpressure",
            "flow": "Flow",
            "leak_rate": "Leak rate",
        },
        {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}},
    ),
    (
        "units",
        None,
        {"pressure": "mbar", "flow": "l/min", "time": "s", "temperature": "°C"},
        {
            "type": "object",
            "required": ["pressure"],
            "properties": {
                "pressure": {"enum": ["mbar", "Pa", "hPa", "kPa", "inH2O"]},
                "flow": {"enum": ["l/min", "m3/h"]},
                "time": {"enum": ["s", "ms"]},
                "temperature": {"enum": ["°C", "°F", "K"]},
            },
        },
    ),
    (
        "api_timeout",
        "FDM",
        {"timeout": 30, "retry": 3},
        {
            "type": "object",
            "required": ["timeout"],
            "properties": {
                "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
                "retry": {"type": "integer", "minimum": 0, "maximum": 10},
            },
            "additionalProperties": False,
        },
    ),
    (
        "device_api_timeout",
        "FSM",
        {"timeout": 15, "poll_interval_s": 60},
        {
            "type": "object",
            "properties": {
                "timeout": {"type": "number", "exclusiveMinimum": 0},
                "poll_interval_s": {"type": "integer", "minimum": 5},
            },
        },
    ),
]

_DEVICE_SCHEMAS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "mask_tester": (
        {
            "target_pressure_mbar": {"type": "number", "minimum": -50, "maximum": 0},
            "sample_rate_hz": {"type": "integer", "minimum": 1, "maximum": 1000},
            "leak_test_duration_s": {"type": "integer", "minimum": 1},
            "simulated": {"type": "boolean"},
        },
        {"target_pressure_mbar": -14, "sample_rate_hz": 10, "leak_test_duration_s": 60},
    ),
    "pressure_sensor": (
        {
            "range_mbar": {"type": "number", "exclusiveMinimum": 0},
            "sample_rate_hz": {"type": "integer", "minimum": 1},
        },
        {"range_mbar": 100, "sample_rate_hz": 50},
    ),
    "flow_meter": (
        {
            "range_l_min": {"type": "number", "exclusiveMinimum": 0},
            "sample_rate_hz": {"type": "integer", "minimum": 1},
        },
        {"range_l_min": 300, "sample_rate_hz": 10},
    ),
    "temperature_sensor": (
        {"unit": {"enum": ["°C", "°F", "K"]}, "offset": {"type": "number"}},
        {"unit": "°C", "offset": 0},
    ),
    "humidity_sensor": (
        {"offset_percent": {"type": "number", "minimum": -20, "maximum": 20}},
        {"offset_percent": 0},
    ),
}

_COMPONENT_OF_PREFIX = {"cpp": "CPP", "cm": "CM", "fdm": "FDM", "fcm": "FCM", "fsm": "FSM"}

_STEP = {
    "type": "object",
    "anyOf": [{"required": ["step_name"]}, {"required": ["action"]}],
    "properties": {
        "step_order": {"type": "integer", "minimum": 1},
        "step": {"type": "integer", "minimum": 1},
        "step_name": {"type": "string", "minLength": 1},
        "action": {"type": "string", "minLength": 1},
        "auto_test": {"type": "boolean"},
        "operator_participation": {"type": "boolean"},
        "parameters": {"type": "object"},
        "params": {"type": "object"},
        "criteria": {"type": ["object", "null"]},
    },
}


def templates() -> list[dict[str, Any]]:
    """The demo templates (each schema valid, each default validating against it)."""
    out: list[dict[str, Any]] = [
        {
            "name": "Mask tester test flow",
            "template_type": "test_flow",
            "category": "mask_tester",
            "description": "Ordered steps of a mask test; canonical or the seed's short form.",
            "schema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "required": ["steps"],
                "properties": {"steps": {"type": "array", "minItems": 1, "items": _STEP}},
            },
            "default_values": {
                "steps": [
                    {
                        "step_order": 1,
                        "step_name": "Visual inspection",
                        "action": "visual_inspection",
                        "auto_test": False,
                        "operator_participation": True,
                        "parameters": {},
                        "criteria": {"type": "boolean"},
                    },
                ]
            },
        },
        {
            "name": "Tester firmware settings",
            "template_type": "software_config",
            "category": "firmware",
            "description": "Per-device settings of the mask tester firmware.",
            "schema": {
                "type": "object",
                "required": ["log_level"],
                "properties": {
                    "log_level": {"enum": ["debug", "info", "warning", "error"]},
                    "auto_update": {"type": "boolean"},
                    "telemetry_interval_s": {"type": "integer", "minimum": 1},
                },
            },
            "default_values": {
                "log_level": "info",
                "auto_update": False,
                "telemetry_interval_s": 60,
            },
        },
    ]
    for device_type, (props, defaults) in _DEVICE_SCHEMAS.items():
        out.append(
            {
                "name": f"{device_type.replace('_', ' ').capitalize()} configuration",
                "template_type": "device_config",
                "category": device_type,
                "description": f"Configuration of a {device_type.replace('_', ' ')}.",
                "schema": {"type": "object", "properties": props},
                "default_values": defaults,
            }
        )
    for key, _component, value, schema in SETTINGS:
        out.append(
            {
                "name": f"Setting {key}",
                "template_type": "system_config",
                "category": key,
                "description": f"Shape of the system setting '{key}'.",
                "schema": schema,
                "default_values": value,
            }
        )
    return out


def seed_config(session: Session) -> int:
    """Create the missing demo settings, templates and en/pl translations; answers rows created."""
    created = 0
    have_templates = {
        (t, c)
        for t, c in session.execute(select(JsonTemplate.template_type, JsonTemplate.category)).all()
    }
    for tpl in templates():
        if (tpl["template_type"], tpl["category"]) in have_templates:
            continue
        session.add(
            JsonTemplate(
                name=tpl["name"],
                template_type=tpl["template_type"],
                category=tpl["category"],
                schema_=tpl["schema"],
                default_values=tpl["default_values"],
                description=tpl["description"],
                is_active=True,
            )
        )
        created += 1
    have_keys = set(session.scalars(select(Configuration.config_key)))
    for key, component, value, _schema in SETTINGS:
        if key not in have_keys:
            session.add(Configuration(config_key=key, config_value=value, component=component))
            created += 1
    have = {
        (k, lang)
        for k, lang in session.execute(select(Translation.key, Translation.language)).all()
    }
    for lang in ("en", "pl"):
        for key, value in static_bundle(lang).items():
            if (key, lang) not in have:
                component = key.split(".", 1)[0].upper() if "." in key else None
                session.add(
                    Translation(
                        key=key,
                        language=lang,
                        value=value,
                        component=component[:50] if component else None,
                    )
                )
                created += 1
    session.flush()
    return created
