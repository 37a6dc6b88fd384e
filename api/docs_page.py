"""The interactive API docs at ``/docs`` (Swagger UI), served entirely by the vault.

FastAPI's own pages load Swagger UI and ReDoc from a public CDN, a favicon from another site and
ReDoc's fonts from Google: an editor opening them tells outsiders which server they use, and an
offline install shows a blank page. Here every file comes from the installed Python packages —
the upstream Swagger UI bundle that ``fastapi-offline`` ships, and the init script beside this
module — so the page runs under a ``'self'``-only Content-Security-Policy (``api.middleware``).
The init script is a file rather than an inline ``<script>`` block so that the policy needs no
``'unsafe-inline'``; the page hands it the OpenAPI URL in a ``data-`` attribute.

There is no ``/redoc``: ReDoc's bundle loads its vendor's logo from the vendor's CDN whatever
its options say, and writes its styles into inline ``<style>`` elements.

None of these routes is part of the OpenAPI description.
"""

from __future__ import annotations

import functools
import hashlib
import html
from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from vault.errors import NotFound

__all__ = ["ASSETS_PREFIX", "router"]

ASSETS_PREFIX = "/docs/assets"

_BUNDLED = resources.files("fastapi_offline") / "static"
_OWN = resources.files("api") / "docs_static"
_JS = "text/javascript; charset=utf-8"
# name in the URL -> (file, media type). A fixed table, so no request path reaches the
# filesystem.
_ASSETS: dict[str, tuple[Traversable, str]] = {
    "swagger-ui-bundle.js": (_BUNDLED / "swagger-ui-bundle.js", _JS),
    "swagger-ui.css": (_BUNDLED / "swagger-ui.css", "text/css; charset=utf-8"),
    "favicon.png": (_BUNDLED / "favicon.png", "image/png"),
    "swagger-init.js": (_OWN / "swagger-init.js", _JS),
}

_SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Swagger UI</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on the vault's own OpenAPI description."""
    # Behind a proxy that mounts the vault under a prefix, every URL carries it (root_path).
    root = str(request.scope.get("root_path", ""))
    openapi_url = request.app.openapi_url or "/openapi.json"
    return HTMLResponse(
        _SWAGGER_PAGE.format(
            title=html.escape(request.app.title),
            assets=html.escape(root + ASSETS_PREFIX),
            openapi_url=html.escape(root + openapi_url),
        )
    )


@router.get(ASSETS_PREFIX + "/{name}")
async def asset(name: str, request: Request) -> Response:
    """One of the files the docs page loads; any other name is a 404 problem."""
    if name not in _ASSETS:
        raise NotFound("no such documentation asset")
    content, etag = _load(name)
    media_type = _ASSETS[name][1]
    # Revalidated on every load (they change when the package is upgraded), answered with 304
    # while unchanged, so a browser does not fetch 1.5 MB of Swagger UI each time.
    headers = {"etag": etag, "cache-control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=media_type, headers=headers)


@functools.cache
def _load(name: str) -> tuple[bytes, str]:
    # Read whole, once per process (2.8 MB in all): a Traversable need not be a file on disk,
    # for instance when the package is installed zipped.
    content = _ASSETS[name][0].read_bytes()
    return content, '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
