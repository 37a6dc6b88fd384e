"""The commands that talk to a server over HTTP (``vault.cli.client``): ``login``, ``logout``,
``whoami``, ``passphrase``, ``export``, ``cases``, ``docs``, ``redact``, ``sources``, ``tokens`` and
``hold``. They import nothing that opens a data directory and nothing of the storage layer
(``tests/test_layout.py``)."""
