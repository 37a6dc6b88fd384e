"""A hostile corpus for redaction: PDFs and images, generated in memory, that hide one invented
name in every place an adversary (or a careless producer) would put it, and an oracle that
looks for that name without any help from ``vault``.

``corpus.CASES`` lists the cases; ``oracle.findings`` says where a file still shows the name.
Nothing here is a binary fixture: every file is built by code when a test asks for it.
"""
