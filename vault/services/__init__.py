"""Domain services: each takes its dependencies explicitly and owns its transactions."""
