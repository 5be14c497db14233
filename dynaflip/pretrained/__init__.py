"""Data only: registry.yaml, the published encoders (read by dynaflip.hub.registry)."""
