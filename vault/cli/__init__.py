"""The ``vault`` command."""
