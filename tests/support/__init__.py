"""What the tests share: the template world, running the ``vault`` command, live servers."""
