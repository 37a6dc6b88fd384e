"""The commands that open a vault's data directory (or its database) on the server: ``init``,
``migrate``, ``fsck``, ``serve``, ``users``, ``backup``/``restore``, ``recover``, ``retention``,
``audit`` and ``demo``. They load the vault's services and storage, inside each command, when it
runs. ``audit verify --server`` is the one mode among them that talks HTTP instead (an outside
witness): it lives with the offline verification it mirrors."""
