"""The package version, read by setuptools (``pyproject.toml``) and ``vault --version``."""

__version__ = "0.1.0"
