"""The tamper-evident access log: RFC 6962/9162 Merkle tree arithmetic (``merkle``), entry
storage and offline verification (``log``), C2SP signed checkpoints (``checkpoint``)."""
