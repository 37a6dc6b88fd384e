"""Verified backups and restore (``docs/operations.md``, "Backups").

- ``archive``: the container, a tar stream written and read in order, every member hashed;
- ``manifest``: member names, the index of digests, the manifest signed with the log key;
- ``snapshot``: the database at one instant, as an SQLite file, from SQLite or PostgreSQL;
- ``create``: ``create_backup``, online, while servers run;
- ``verify``: ``check_archive``, every check in one streaming pass;
- ``restore``: ``restore_backup``, which writes nothing to the target until all of it verified.

The submodules import the database layer; import them where they are used.
"""
