"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import docs_page, errors
from api.bodies import BodyLimit
from api.limits import DRAIN_SECONDS, RequestLimits, UploadGate
from api.middleware import SecurityMiddleware
from api.routes import (
    account,
    audit,
    auth,
    cases,
    documents,
    e2e,
    grants,
    health,
    holds,
    keys,
    redactions,
    sealed,
    sealed_redactions,
    sealed_sources,
    sealed_uploads,
    sources,
    tokens,
)
from vault._version import __version__
from vault.clock import Clock, system_clock
from vault.instance import Vault
from vault.services.retention import RetentionSchedule
from vault.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger("api")


def create_app(
    settings: Settings, *, vault: Vault | None = None, clock: Clock = system_clock
) -> FastAPI:
    """Build the app for ``settings``. The vault is opened at startup (or ``vault`` is used,
    for tests that share one), and closed at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = vault is None
        app.state.vault = vault or Vault.open(settings, clock=clock)
        if settings.redaction_self_approval:
            # It lifts the four-eyes rule on redactions: said at every start, so that nobody
            # runs with it without knowing, even years after it was set.
            log.warning(
                "redaction_self_approval is on: an editor can approve their own redactions "
                "(each such approval is marked self_approved in the access log)"
            )
        schedule = None
        if settings.retention_interval_minutes:
            # Every replica runs its own schedule; runs that overlap are safe (see
            # vault.services.retention), so no replica needs electing.
            schedule = RetentionSchedule(
                app.state.vault.retention, interval_seconds=settings.retention_interval_minutes * 60
            )
            schedule.start()
        app.state.retention = schedule
        try:
            yield
        finally:
            # Uploads still receiving after the server's grace period are cut off here, and
            # their partial blobs removed, before the vault closes under them.
            await app.state.upload_gate.drain(timeout=DRAIN_SECONDS)
            if schedule is not None:
                schedule.stop()
            if opened:
                app.state.vault.close()

    app = FastAPI(
        title="Source Vault",
        version=__version__,
        description="Encrypted, access-controlled storage for material that can endanger a source.",
        lifespan=lifespan,
        # FastAPI's own pages load their assets from a CDN; api.docs_page serves them itself.
        docs_url=None,
        redoc_url=None,
        # A path with a slash too many is a 404 like any unknown path: Starlette's redirect to
        # the other form built its Location from the request's Host header, unchecked.
        redirect_slashes=False,
    )
    if vault is not None:
        app.state.vault = vault
    errors.install(app)
    for module in (
        health,
        auth,
        e2e,
        account,
        tokens,
        cases,
        holds,
        sources,
        documents,
        audit,
        grants,
    ):
        app.include_router(module.router)
    for router in (
        *redactions.routers,
        *sealed.routers,
        *keys.routers,
        *sealed_uploads.routers,
        *sealed_sources.routers,
        *sealed_redactions.routers,
    ):
        app.include_router(router)
    app.include_router(docs_page.router)
    # The upload streams into encryption and enforces max_upload_bytes itself.
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_json_bytes,
        exempt={("POST", "/v1/documents"), ("POST", "/v1/sealed-documents")},
    )
    # Inside the access log (which records its 408s and 499s), outside everything that reads.
    app.add_middleware(RequestLimits, settings=settings)
    app.state.upload_gate = UploadGate.from_settings(settings)
    app.add_middleware(SecurityMiddleware, log_client_addresses=settings.log_client_addresses)
    if settings.proxy_networks:
        # Outermost, so that everything inside (throttling, HSTS, the access log) sees the
        # client and scheme a trusted proxy forwarded; from any other peer the headers are
        # ignored. uvicorn's own handling is off in `vault serve` (proxy_headers=False).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.proxy_networks)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
            errors.problem_schema()
        )
        # The longest token lifetime is a setting: the schema says this server's.
        token = schema["components"]["schemas"].get("TokenCreate", {}).get("properties", {})
        if "expires_in" in token:
            token["expires_in"]["maximum"] = settings.token_max_days * 86400
        # Validation errors are problem documents too, not FastAPI's default shape.
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                responses = operation.get("responses", {})
                # FastAPI answers a JSON body it cannot decode at all (not UTF-8) with 400.
                if "application/json" in operation.get("requestBody", {}).get("content", {}):
                    responses.setdefault("400", errors.openapi_responses(400)[400])
                if "422" in responses:
                    responses["422"] = errors.openapi_responses(422)[422]
        schema["components"]["schemas"].pop("HTTPValidationError", None)
        schema["components"]["schemas"].pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # how FastAPI says to customise it
    return app
