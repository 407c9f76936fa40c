"""Cross-cutting infrastructure: configuration, database, security, logging, errors."""
