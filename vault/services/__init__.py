"""Domain services: each takes its dependencies explicitly, and writes only through the audited
unit of work (``vault.services.uow``), so that no action commits without its access-log entry."""
