"""Server-rendered pages, the offline API docs and the vendored static files."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from fleet import __version__
from fleet.auth.roles import MODULE_ROLES
from fleet.modules import MODULES

WEB_DIR = Path(__file__).parent
templates = Jinja2Templates(directory=WEB_DIR / "templates")


@dataclass(frozen=True)
class ModulePage:
    """A module page that exists; navigation lists only these."""

    module: str
    path: str
    title: str
    template: str


# The pages come from the one table of modules (fleet.modules), in its order.
MODULE_PAGES: list[ModulePage] = [
    ModulePage(m.code, page.path, page.title, page.template) for m in MODULES for page in m.pages
]

router = APIRouter(include_in_schema=False)


def _nav() -> list[dict[str, object]]:
    return [{**asdict(p), "roles": sorted(MODULE_ROLES[p.module])} for p in MODULE_PAGES]


def render(request: Request, template: str, **context: object) -> HTMLResponse:
    """Render a page with the shared shell context (navigation, version)."""
    return templates.TemplateResponse(
        request, template, {"nav": _nav(), "version": __version__, **context}
    )


@router.get("/", response_class=HTMLResponse)
async def landing(request: Request) -> HTMLResponse:
    """Landing page: login by password or QR badge, then the modules you reach."""
    return render(request, "index.html", page_module=None)


def _page_route(page: ModulePage) -> None:
    async def show(request: Request) -> HTMLResponse:
        return render(request, page.template, page_module=page.module, page_title=page.title)

    show.__name__ = f"page_{page.module.lower()}"
    router.add_api_route(page.path, show, methods=["GET"], response_class=HTMLResponse)


def install(app: FastAPI) -> None:
    """Mount static files, the pages and Swagger UI served from vendored files."""
    for page in MODULE_PAGES:
        _page_route(page)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Fleet Management System API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )
