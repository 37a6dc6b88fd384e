"""Factory for ASGI servers: ``uvicorn --factory api.asgi:app`` builds the app from the
process environment (``VAULT_*``)."""

from __future__ import annotations

import os

from fastapi import FastAPI

from api.app import create_app
from vault.settings import Settings


def app() -> FastAPI:
    return create_app(Settings.from_environ(os.environ))
