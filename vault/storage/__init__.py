"""Persistence: the metadata database (SQLModel on SQLite or PostgreSQL) and the blob store."""
