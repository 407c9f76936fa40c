"""API keys: every request under /api/v1 presents one; the principal is the key's name."""
