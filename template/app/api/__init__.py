"""HTTP layer: dependencies, routers and thin endpoints."""
