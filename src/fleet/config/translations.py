"""Translations: (key, language) → text, the texts the web UI shows.

English and Polish defaults ship as static bundles (``web/static/i18n/<lang>.json``); rows in
the ``translations`` table override them. A key missing in a language falls back to English.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.audit.service import audit_for
from fleet.auth.deps import Principal
from fleet.config.schemas import KEY_PATTERN, LANG_PATTERN, ImportResult, TranslationIn
from fleet.errors import NotFound
from fleet.models import Translation
from fleet.search import icontains
from fleet.validation import SchemaIssue, raise_if_invalid

FALLBACK = "en"
STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static" / "i18n"
_LANG = re.compile(LANG_PATTERN)
_KEY = re.compile(KEY_PATTERN)
MAX_BUNDLE = 10_000


@lru_cache
def static_bundle(language: str) -> dict[str, str]:
    """Return the shipped default texts of a language (empty when none ship)."""
    if not _LANG.fullmatch(language):
        return {}
    path = STATIC_DIR / f"{language}.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str) and v.strip()}


def static_languages() -> list[str]:
    """Return the languages that ship a default bundle."""
    return sorted(p.stem for p in STATIC_DIR.glob("*.json") if _LANG.fullmatch(p.stem))


def check_language(language: str) -> str:
    """Raise 422 unless ``language`` looks like a language code (en, pl, pt-BR)."""
    if not _LANG.fullmatch(language):
        raise_if_invalid(
            [SchemaIssue("/language", "not a language code like 'en' or 'pl'")], "language"
        )
    return language


def query(
    language: str | None, component: str | None, q: str | None, missing_in: str | None
) -> Select[Any]:
    """Build the list query; ``missing_in`` keeps keys that language lacks."""
    stmt = select(Translation)
    if language:
        stmt = stmt.where(Translation.language == language)
    if component:
        stmt = stmt.where(Translation.component == component)
    if q:
        stmt = stmt.where(
            icontains(Translation.key, q) | icontains(Translation.value, q)
        )
    if missing_in:
        have = select(Translation.key).where(Translation.language == missing_in)
        stmt = stmt.where(Translation.language != missing_in, Translation.key.not_in(have))
    return stmt.order_by(Translation.key, Translation.language)


async def upsert(
    session: AsyncSession, item: TranslationIn, principal: Principal
) -> tuple[Translation, str]:
    """Create or change the text of (key, language); answers the row and what happened."""
    row = await session.scalar(
        select(Translation).where(
            Translation.key == item.key, Translation.language == item.language
        )
    )
    if row is None:
        row = Translation(
            key=item.key, language=item.language, value=item.value, component=item.component
        )
        session.add(row)
        outcome = "created"
    elif row.value == item.value and (item.component is None or row.component == item.component):
        return row, "unchanged"
    else:
        old = row.value
        row.value = item.value
        if item.component is not None:
            row.component = item.component
        outcome = "updated"
    await session.flush()
    details: dict[str, Any] = {
        "entity": "translation",
        "id": row.id,
        "key": row.key,
        "language": row.language,
        "new": row.value,
    }
    if outcome == "updated":
        details["old"] = old
    action = "config.translation.update" if outcome == "updated" else "config.translation.create"
    audit_for(principal).record(session, action, details=details)
    return row, outcome


async def upsert_many(
    session: AsyncSession, items: list[TranslationIn], principal: Principal
) -> list[Translation]:
    """Create or change many texts in one go (one lookup, one audit row); a (key, language)
    given twice is refused."""
    seen: dict[tuple[str, str], int] = {}
    issues = []
    for n, item in enumerate(items):
        pair = (item.key, item.language)
        if pair in seen:
            issues.append(SchemaIssue(f"/{n}", f"same key and language as item {seen[pair]}"))
        seen[pair] = n
    raise_if_invalid(issues, "translations")
    existing: dict[tuple[str, str], Translation] = {}
    keys = sorted({item.key for item in items})
    for start in range(0, len(keys), 500):
        for found in await session.scalars(
            select(Translation).where(Translation.key.in_(keys[start : start + 500]))
        ):
            existing[(found.key, found.language)] = found
    out: list[Translation] = []
    changed: list[dict[str, Any]] = []
    for item in items:
        row = existing.get((item.key, item.language))
        if row is None:
            row = Translation(
                key=item.key, language=item.language, value=item.value, component=item.component
            )
            session.add(row)
            changed.append({"key": item.key, "language": item.language, "new": item.value})
        elif row.value != item.value or (
            item.component is not None and row.component != item.component
        ):
            changed.append(
                {"key": item.key, "language": item.language, "old": row.value, "new": item.value}
            )
            row.value = item.value
            if item.component is not None:
                row.component = item.component
        out.append(row)
    await session.flush()
    if changed:
        audit_for(principal).record(
            session,
            "config.translation.bulk",
            details={"entity": "translation", "count": len(changed), "items": changed[:1000]},
        )
    return out


async def get(session: AsyncSession, translation_id: int) -> Translation:
    """Load one translation or raise 404."""
    row = await session.get(Translation, translation_id)
    if row is None:
        raise NotFound("Translation not found")
    return row


async def delete(session: AsyncSession, row: Translation, principal: Principal) -> None:
    """Delete one translation (the UI then falls back to English)."""
    audit_for(principal).record(
        session,
        "config.translation.delete",
        details={
            "entity": "translation",
            "id": row.id,
            "key": row.key,
            "language": row.language,
            "old": row.value,
        },
    )
    await session.delete(row)
    await session.flush()


async def export_language(session: AsyncSession, language: str) -> dict[str, str]:
    """Return a language's stored texts as a flat ``{key: text}`` bundle."""
    rows = await session.execute(
        select(Translation.key, Translation.value)
        .where(Translation.language == language)
        .order_by(Translation.key)
    )
    return {key: value for key, value in rows}


def _check_bundle(bundle: Any) -> dict[str, str]:
    issues: list[SchemaIssue] = []
    if not isinstance(bundle, dict):
        raise_if_invalid([SchemaIssue("/", "a bundle is a flat JSON object {key: text}")], "bundle")
    if len(bundle) > MAX_BUNDLE:
        raise_if_invalid([SchemaIssue("/", f"at most {MAX_BUNDLE} keys at once")], "bundle")
    for key, value in bundle.items():
        pointer = "/" + str(key).replace("~", "~0").replace("/", "~1")
        if not (0 < len(key) <= 255 and _KEY.fullmatch(key)):
            issues.append(SchemaIssue(pointer, "keys are letters, digits, '_', '.', '-'"))
        elif not isinstance(value, str) or not value.strip():
            issues.append(SchemaIssue(pointer, "the text must be a non-empty string"))
        elif len(value) > 10_000:
            issues.append(SchemaIssue(pointer, "at most 10000 characters"))
    raise_if_invalid(issues, "bundle")
    return bundle


async def import_language(
    session: AsyncSession,
    language: str,
    bundle: Any,
    component: str | None,
    principal: Principal,
) -> ImportResult:
    """Upsert a flat bundle into one language in one transaction; audited as one change."""
    check_language(language)
    items = _check_bundle(bundle)
    existing = {
        row.key: row
        for row in (
            await session.scalars(select(Translation).where(Translation.language == language))
        ).all()
    }
    result = ImportResult(language=language, created=0, updated=0, unchanged=0)
    for key, value in items.items():
        row = existing.get(key)
        if row is None:
            session.add(Translation(key=key, language=language, value=value, component=component))
            result.created += 1
        elif row.value != value:
            row.value = value
            result.updated += 1
        else:
            result.unchanged += 1
    await session.flush()
    audit_for(principal).record(
        session,
        "config.translation.import",
        details={
            "entity": "translation",
            "language": language,
            **result.model_dump(exclude={"language"}),
        },
    )
    return result


async def languages(session: AsyncSession) -> list[str]:
    """Return every language known from the database or the shipped bundles."""
    stored = (await session.scalars(select(Translation.language).distinct())).all()
    return sorted({*stored, *static_languages()})


async def grid(
    session: AsyncSession,
    langs: list[str],
    q: str | None,
    component: str | None,
    only_missing: bool,
    skip: int,
    limit: int,
) -> tuple[int, list[dict[str, Any]]]:
    """Answer one page of keys with their text in each language and the languages missing.

    The keys are those stored and those the shipped bundles carry (the texts the pages show);
    a language has a key when a stored or shipped text of it is not blank, so "only missing"
    finds a key the English bundle has and the Polish one lacks.
    """
    stmt = select(Translation.key, Translation.language, Translation.value, Translation.component)
    rows = (await session.execute(stmt)).all()
    values: dict[str, dict[str, str]] = {}
    components: dict[str, str | None] = {}
    shipped_langs = sorted({*langs, FALLBACK})
    for lang in shipped_langs:
        for key, text in static_bundle(lang).items():
            values.setdefault(key, {})
            if lang in langs:
                values[key][lang] = text
            components.setdefault(key, None)
    for key, lang, value, comp in rows:
        values.setdefault(key, {})
        if comp:
            components[key] = max(filter(None, (components.get(key), comp)))
        else:
            components.setdefault(key, None)
        if lang in langs and value and value.strip():
            values[key][lang] = value
    needle = q.lower() if q else None
    keys = []
    for key in sorted(values):
        if component and components.get(key) != component:
            continue
        if needle and needle not in key.lower() and not any(
            needle in text.lower() for text in values[key].values()
        ):
            continue
        if only_missing and langs and all(lang in values[key] for lang in langs):
            continue
        keys.append(key)
    out = [
        {
            "key": k,
            "component": components.get(k),
            "values": values[k],
            "missing": [lang for lang in langs if lang not in values[k]],
        }
        for k in keys[skip : skip + limit]
    ]
    return len(keys), out


async def bundle(session: AsyncSession, language: str) -> dict[str, str]:
    """Return the texts the UI shows in ``language``, every key falling back to English.

    Later sources win: shipped English, stored English, shipped language, stored language.
    Blank texts never replace a real one.
    """
    check_language(language)
    merged: dict[str, str] = dict(static_bundle(FALLBACK))
    langs = [FALLBACK] if language == FALLBACK else [FALLBACK, language]
    rows = (
        await session.execute(
            select(Translation.language, Translation.key, Translation.value).where(
                Translation.language.in_(langs)
            )
        )
    ).all()
    stored: dict[str, dict[str, str]] = {lang: {} for lang in langs}
    for lang, key, value in rows:
        if value and value.strip():
            stored[lang][key] = value
    merged.update(stored[FALLBACK])
    if language != FALLBACK:
        merged.update(static_bundle(language))
        merged.update(stored[language])
    return merged
