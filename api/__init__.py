"""The HTTP API of Source Vault (FastAPI). Routing, authentication and problem+json errors live
here; every decision is delegated to ``vault`` services."""
