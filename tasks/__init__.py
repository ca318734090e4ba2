"""Celery app and thin tasks that call `workflow` services (see tasks/app.py)."""
