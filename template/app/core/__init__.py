"""What every domain shares: configuration, database, Redis, Celery, logging, errors, security."""
