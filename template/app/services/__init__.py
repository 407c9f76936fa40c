"""Business logic. Services raise `app.core.errors` errors and never import FastAPI."""
