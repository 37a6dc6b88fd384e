"""The three roles an account can have. Kept apart from the storage models so that the command
line can name them without loading the database layer."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Role"]


class Role(StrEnum):
    ADMIN = "admin"
    EDITOR = "editor"
    JOURNALIST = "journalist"
