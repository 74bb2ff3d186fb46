"""The engagement dashboard: one static page and its script, served by the query API.

The page holds no data and needs no key to load: it asks the firm's API key, keeps it in the
tab's sessionStorage and sends it as `Authorization: Bearer` to the /v1 endpoints, like any
other client. Everything is served from here (no CDN: installations may have no internet),
under a Content-Security-Policy that allows only this origin's script, style and fetches.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

STATIC = files("services.tracking_api") / "static"
ASSETS = {  # URL name -> (file, media type)
    "page": ("dashboard.html", "text/html; charset=utf-8"),
    "app.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "app.css": ("dashboard.css", "text/css; charset=utf-8"),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

dashboard_router = APIRouter(include_in_schema=False)


@cache
def _read(name: str) -> bytes:
    """A static file, read once per process."""
    return (STATIC / name).read_bytes()


@dashboard_router.get("/")
def home() -> RedirectResponse:
    """The root leads to the dashboard."""
    return RedirectResponse("/dashboard")


@dashboard_router.get("/dashboard")
def page() -> Response:
    """The dashboard's HTML."""
    return _asset("page")


@dashboard_router.get("/dashboard/app.js")
def script() -> Response:
    """The dashboard's script (charts drawn as inline SVG, no library)."""
    return _asset("app.js")


@dashboard_router.get("/dashboard/app.css")
def style() -> Response:
    """The dashboard's style sheet."""
    return _asset("app.css")


def _asset(name: str) -> Response:
    file_name, media_type = ASSETS[name]
    return Response(_read(file_name), media_type=media_type, headers=SECURITY_HEADERS)
