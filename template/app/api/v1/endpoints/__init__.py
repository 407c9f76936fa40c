"""Endpoint modules: validate input, call a service, return a schema."""
