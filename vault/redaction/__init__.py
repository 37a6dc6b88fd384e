"""Redaction: what a redaction is (``model``), finding what to redact (``match``, ``suggest``),
applying it to each format (``text``, ``pdf``, ``image``), and releasing a derivative only after
an independent reading finds nothing redacted left in it (``leaks``, ``export``).

Pure functions over bytes and strings: no database and no web framework here; the service that
stores, reviews and logs redactions is ``vault.services.redactions``.
"""
