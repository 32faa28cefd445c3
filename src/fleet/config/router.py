"""Fleet Config Manager API (``/fleet-config``), the read-only ``/config`` settings and the
public UI text bundles (``/i18n``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import create_engine

from fleet.audit.service import audit_for
from fleet.auth.deps import AdminPrincipal, CurrentPrincipal, Principal, require_module
from fleet.config import backups, dbdump, device_configs, system_configs, templates, translations
from fleet.config.schemas import (
    KEY_PATTERN,
    LANG_PATTERN,
    ApplyResult,
    ApplyTemplate,
    BackupCreate,
    BackupRead,
    DeviceConfigRead,
    DeviceConfigUpdate,
    DeviceFilter,
    DocumentIn,
    ImportResult,
    RestoreRequest,
    RestoreResult,
    SystemConfigCreate,
    SystemConfigPut,
    SystemConfigRead,
    SystemConfigUpdate,
    TemplateCreate,
    TemplateDraft,
    TemplateRead,
    TemplateUpdate,
    TranslationIn,
    TranslationRead,
    TranslationRow,
    ValidationResult,
)
from fleet.db import commit_early, install_sqlite_pragmas, utcnow
from fleet.deps import SessionDep, SettingsDep
from fleet.pagination import PageDep, paginate
from fleet.settings import sync_database_url
from fleet.validation import SchemaIssue

Configurator = Annotated[Principal, Depends(require_module("FCM"))]

router = APIRouter(prefix="/fleet-config", tags=["fleet-config"])
public = APIRouter(tags=["fleet-config"])

Lang = Annotated[str, Query(min_length=2, max_length=10, pattern=LANG_PATTERN)]


# ---- system configuration -------------------------------------------------------------------


@router.get("/system-configs", response_model=list[SystemConfigRead])
async def list_system_configs(
    session: SessionDep,
    _p: Configurator,
    page: PageDep,
    response: Response,
    component: Annotated[str | None, Query(pattern=r"^(CPP|CM|FDM|FCM|FSM|none)$")] = None,
    config_key: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> list[Any]:
    """List system settings; ``component=none`` lists the global ones."""
    return await paginate(session, system_configs.query(component, q, config_key), page, response)


@router.post("/system-configs", response_model=SystemConfigRead, status_code=201)
async def create_system_config(
    data: SystemConfigCreate, session: SessionDep, principal: Configurator
) -> Any:
    """Create a system setting (409 when the key exists)."""
    return await system_configs.create(session, data, principal)


@router.get("/system-configs/by-key/{config_key}", response_model=SystemConfigRead)
async def get_system_config_by_key(config_key: str, session: SessionDep, _p: Configurator) -> Any:
    """Read one system setting by its key."""
    return await system_configs.get_by_key(session, config_key)


@router.put(
    "/system-configs/by-key/{config_key}",
    response_model=SystemConfigRead,
    responses={201: {"model": SystemConfigRead, "description": "Created"}},
)
async def put_system_config_by_key(
    config_key: Annotated[str, Path(min_length=1, max_length=100, pattern=KEY_PATTERN)],
    data: SystemConfigPut,
    session: SessionDep,
    principal: Configurator,
    response: Response,
) -> Any:
    """Create or replace the setting with this key."""
    row, created = await system_configs.put_by_key(session, config_key, data, principal)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return row


@router.delete("/system-configs/by-key/{config_key}", status_code=204)
async def delete_system_config_by_key(
    config_key: str, session: SessionDep, principal: Configurator
) -> None:
    """Delete the setting with this key."""
    await system_configs.delete(
        session, await system_configs.get_by_key(session, config_key), principal
    )


@router.get("/system-configs/{config_id}", response_model=SystemConfigRead)
async def get_system_config(config_id: int, session: SessionDep, _p: Configurator) -> Any:
    """Read one system setting."""
    return await system_configs.get(session, config_id)


@router.patch("/system-configs/{config_id}", response_model=SystemConfigRead)
@router.put("/system-configs/{config_id}", response_model=SystemConfigRead)
async def update_system_config(
    config_id: int, data: SystemConfigUpdate, session: SessionDep, principal: Configurator
) -> Any:
    """Change a setting's value and/or component."""
    row = await system_configs.get(session, config_id)
    return await system_configs.update(session, row, data, principal)


@router.delete("/system-configs/{config_id}", status_code=204)
async def delete_system_config(
    config_id: int, session: SessionDep, principal: Configurator
) -> None:
    """Delete a system setting."""
    await system_configs.delete(session, await system_configs.get(session, config_id), principal)


@public.get("/config")
async def module_settings(
    session: SessionDep,
    principal: CurrentPrincipal,
    component: Annotated[str | None, Query(max_length=10)] = None,
) -> dict[str, Any]:
    """Answer ``{key: value}``: global settings plus those of the module(s) you reach."""
    return await system_configs.settings_for(session, principal, component)


# ---- device configuration -------------------------------------------------------------------


@router.get("/device-configs", response_model=list[DeviceConfigRead])
async def list_device_configs(
    session: SessionDep,
    _p: Configurator,
    page: PageDep,
    response: Response,
    device_type: Annotated[str | None, Query(max_length=100)] = None,
    kind_of_device: Annotated[str | None, Query(max_length=100)] = None,
    customer_id: int | None = None,
    status_: Annotated[str | None, Query(alias="status", max_length=50)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> list[Any]:
    """List devices with their configuration."""
    filters = DeviceFilter(
        device_type=device_type,
        kind_of_device=kind_of_device,
        customer_id=customer_id,
        status=status_,
    )
    return await paginate(session, device_configs.query(filters, q), page, response)


@router.post("/device-configs/apply-template", response_model=ApplyResult)
async def apply_template(data: ApplyTemplate, session: SessionDep, principal: Configurator) -> Any:
    """Apply a device_config template's defaults to every matching device, all or none."""
    return await device_configs.apply_template(session, data, principal)


@router.get("/device-configs/{device_id}", response_model=DeviceConfigRead)
async def get_device_config(device_id: int, session: SessionDep, _p: Configurator) -> Any:
    """Read one device's configuration."""
    return await device_configs.get(session, device_id)


@router.put("/device-configs/{device_id}", response_model=DeviceConfigRead)
async def update_device_config(
    device_id: int, data: DeviceConfigUpdate, session: SessionDep, principal: Configurator
) -> Any:
    """Replace one device's configuration (validated against its type's template)."""
    device = await device_configs.get(session, device_id)
    return await device_configs.update(session, device, data.configuration, principal)


# ---- JSON templates -------------------------------------------------------------------------


@router.get("/json-templates", response_model=list[TemplateRead], response_model_by_alias=True)
async def list_templates(
    session: SessionDep,
    _p: CurrentPrincipal,
    page: PageDep,
    response: Response,
    template_type: Annotated[str | None, Query(max_length=100)] = None,
    type_: Annotated[str | None, Query(alias="type", max_length=100)] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    is_active: bool | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> list[Any]:
    """List templates (any signed-in user: other modules start documents from them)."""
    stmt = templates.query(template_type or type_, category, is_active, q)
    return await paginate(session, stmt, page, response)


@router.post("/json-templates", response_model=TemplateRead, status_code=201)
async def create_template(
    data: TemplateCreate, session: SessionDep, principal: Configurator
) -> Any:
    """Create a template; its schema must be valid and its defaults must validate."""
    return await templates.create(session, data, principal)


@router.post("/json-templates/check", response_model=ValidationResult)
async def check_template_draft(data: TemplateDraft, _p: Configurator) -> Any:
    """Check a template draft without saving it (schema, then defaults against it)."""
    issues = templates.check(data.schema_, data.default_values)
    return {"valid": not issues, "errors": [{"path": i.path, "message": i.message} for i in issues]}


@router.get("/json-templates/{template_id}", response_model=TemplateRead)
async def get_template(template_id: int, session: SessionDep, _p: CurrentPrincipal) -> Any:
    """Read one template."""
    return await templates.get(session, template_id)


@router.patch("/json-templates/{template_id}", response_model=TemplateRead)
@router.put("/json-templates/{template_id}", response_model=TemplateRead)
async def update_template(
    template_id: int, data: TemplateUpdate, session: SessionDep, principal: Configurator
) -> Any:
    """Change a template; schema and defaults are checked together."""
    return await templates.update(
        session, await templates.get(session, template_id), data, principal
    )


@router.delete("/json-templates/{template_id}", status_code=204)
async def delete_template(template_id: int, session: SessionDep, principal: Configurator) -> None:
    """Delete a template."""
    await templates.delete(session, await templates.get(session, template_id), principal)


@router.post("/json-templates/{template_id}/validate", response_model=ValidationResult)
async def validate_document(
    template_id: int, data: DocumentIn, session: SessionDep, _p: CurrentPrincipal
) -> Any:
    """Validate a document against a template: ``{"valid", "errors": [{"path","message"}]}``."""
    return templates.validate_document(await templates.get(session, template_id), data.document)


# ---- translations ---------------------------------------------------------------------------


@router.get("/translations", response_model=list[TranslationRead])
async def list_translations(
    session: SessionDep,
    _p: Configurator,
    page: PageDep,
    response: Response,
    language: Annotated[str | None, Query(max_length=10)] = None,
    component: Annotated[str | None, Query(max_length=50)] = None,
    q: Annotated[str | None, Query(max_length=255)] = None,
    missing_in: Annotated[str | None, Query(max_length=10)] = None,
) -> list[Any]:
    """List translations; ``missing_in=pl`` lists texts whose key Polish lacks."""
    return await paginate(
        session, translations.query(language, component, q, missing_in), page, response
    )


@router.put("/translations", response_model=TranslationRead | list[TranslationRead])
async def put_translations(
    data: TranslationIn | list[TranslationIn], session: SessionDep, principal: Configurator
) -> Any:
    """Create or change texts by (key, language): one object, or a list of them."""
    if isinstance(data, list):
        if len(data) > translations.MAX_BUNDLE:
            translations.raise_if_invalid(
                [SchemaIssue("/", f"at most {translations.MAX_BUNDLE} items")], "translations"
            )
        return await translations.upsert_many(session, data, principal)
    return (await translations.upsert(session, data, principal))[0]


@router.get("/translations/languages")
async def list_languages(session: SessionDep, _p: Configurator) -> list[str]:
    """List the languages known (stored or shipped)."""
    return await translations.languages(session)


@router.get("/translations/grid", response_model=list[TranslationRow])
async def translation_grid(
    session: SessionDep,
    _p: Configurator,
    page: PageDep,
    response: Response,
    languages: Annotated[str, Query(max_length=200)] = "en,pl",
    q: Annotated[str | None, Query(max_length=255)] = None,
    component: Annotated[str | None, Query(max_length=50)] = None,
    only_missing: bool = False,
) -> list[Any]:
    """One page of keys with their text per language and the languages that lack them."""
    langs = [translations.check_language(x.strip()) for x in languages.split(",") if x.strip()]
    total, rows = await translations.grid(
        session, langs, q, component, only_missing, page.skip, page.limit
    )
    response.headers["X-Total-Count"] = str(total)
    return rows


@router.get("/translations/export/{language}")
async def export_translations(language: str, session: SessionDep, _p: Configurator) -> JSONResponse:
    """Download a language's stored texts as a flat JSON bundle."""
    translations.check_language(language)
    data = await translations.export_language(session, language)
    return JSONResponse(
        data,
        headers={"Content-Disposition": f'attachment; filename="translations-{language}.json"'},
    )


@router.post("/translations/import/{language}", response_model=ImportResult)
async def import_translations(
    language: str,
    session: SessionDep,
    principal: Configurator,
    bundle: Annotated[dict[str, Any], Body()],
    component: Annotated[str | None, Query(max_length=50)] = None,
) -> Any:
    """Upsert a flat ``{key: text}`` bundle into a language."""
    return await translations.import_language(session, language, bundle, component, principal)


@router.delete("/translations/{translation_id}", status_code=204)
async def delete_translation(
    translation_id: int, session: SessionDep, principal: Configurator
) -> None:
    """Delete one text (the UI then shows the English one)."""
    await translations.delete(session, await translations.get(session, translation_id), principal)


@public.get("/i18n")
async def ui_languages(session: SessionDep) -> list[str]:
    """List the languages the UI can be shown in (public: the login page needs it)."""
    return await translations.languages(session)


@public.get("/i18n/{language}")
async def ui_bundle(language: str, session: SessionDep) -> JSONResponse:
    """Answer the UI texts of a language, every missing key filled from English (public)."""
    data = await translations.bundle(session, language)
    return JSONResponse(data, headers={"Cache-Control": "no-cache"})


# ---- backups --------------------------------------------------------------------------------


@router.post("/backup", response_model=BackupRead, status_code=201)
async def create_backup(
    session: SessionDep,
    principal: Configurator,
    data: Annotated[BackupCreate | None, Body()] = None,
) -> Any:
    """Keep a backup: the given ``backup_data``, or a snapshot of the configuration set."""
    return await backups.create(session, data or BackupCreate(), principal)


@router.get("/backups", response_model=list[BackupRead])
async def list_backups(
    session: SessionDep,
    _p: Configurator,
    page: PageDep,
    response: Response,
    kind: Annotated[str | None, Query(pattern=r"^(manual|snapshot|pre_restore)$")] = None,
) -> list[Any]:
    """List kept backups, newest first."""
    return await paginate(session, backups.list_query(kind), page, response)


@router.get("/backups/{backup_id}")
async def download_backup(backup_id: int, session: SessionDep, _p: Configurator) -> JSONResponse:
    """Download a backup with its checksum (restorable as ``restore_data``)."""
    row = await backups.get(session, backup_id)
    return JSONResponse(
        backups.envelope(row),
        headers={"Content-Disposition": f'attachment; filename="config-backup-{row.id}.json"'},
    )


@router.delete("/backups/{backup_id}", status_code=204)
async def delete_backup(backup_id: int, session: SessionDep, principal: Configurator) -> None:
    """Delete a kept backup."""
    await backups.delete(session, await backups.get(session, backup_id), principal)


@router.post("/restore", response_model=RestoreResult)
async def restore(data: RestoreRequest, session: SessionDep, principal: Configurator) -> Any:
    """Check a backup and answer its exact changes; apply them all (unless ``dry_run``)."""
    return await backups.restore(session, data, principal)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/gzip": {}}, "description": "The database dump"}},
)
async def export_database(
    session: SessionDep, settings: SettingsDep, principal: AdminPrincipal
) -> StreamingResponse:
    """Stream the whole database as a compressed, checksummed dump (admins)."""
    audit_for(principal).record(
        session,
        "config.export",
        details={"entity": "database"},
    )
    await commit_early(session, "export-audit")
    engine = create_engine(sync_database_url(settings.resolved_database_url()))
    install_sqlite_pragmas(engine)

    def stream() -> Any:
        try:
            yield from dbdump.dump_stream(engine)
        finally:
            engine.dispose()

    name = f"fleet-{utcnow():%Y%m%d-%H%M%S}.fleetdump.gz"
    return StreamingResponse(
        stream(),
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
