"""HTTP entry points: mounts each domain's router under /api/v1, health checks and the docs."""
