"""The tamper-evident access log (RFC 6962/9162 Merkle tree). Only the tree arithmetic exists
so far (``merkle``); entries, checkpoints and their storage come with the access-log work."""
