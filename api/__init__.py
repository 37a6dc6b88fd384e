"""The HTTP API of Source Vault (FastAPI). Routing, authentication and problem+json errors live
here; every decision is delegated to ``vault`` services."""

from api.app import create_app

__all__ = ["create_app"]
