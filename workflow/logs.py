"""Structured (JSON) logs: one object per line with the entry id and Celery task id when known.

Set `LOG_FORMAT=json` (the compose file does) or keep the readable default for a terminal.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

from workflow.settings import get_settings

current_entry_id: ContextVar[int | None] = ContextVar("current_entry_id", default=None)


class ContextFilter(logging.Filter):
    """Adds `entry_id` and `task_id` to every record (None when not inside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.entry_id = getattr(record, "entry_id", None) or current_entry_id.get()
        task_id = None
        try:
            from celery import current_task

            if current_task and current_task.request and current_task.request.id:
                task_id = current_task.request.id
        except Exception:  # noqa: S110 (outside Celery there is simply no task)
            pass
        record.task_id = getattr(record, "task_id", None) or task_id
        return True


class RedactTokens(logging.Filter):
    """Calendar feeds carry their token in the URL (calendar apps cannot send a header):
    the access log keeps the path and drops the secret."""

    _pattern = re.compile(r"(token=)[^&\s]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._pattern.sub(r"\1[dolt]", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = self._pattern.sub(r"\1[dolt]", record.msg)
        return True


def use_json() -> bool:
    return get_settings().log_format == "json"


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(entry_id)s %(task_id)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )


def configure(handler: logging.Handler | None = None, *, json: bool | None = None) -> None:
    """Install the formatter and filter on the root logger (idempotent)."""
    handler = handler or logging.StreamHandler()
    if use_json() if json is None else json:
        handler.setFormatter(json_formatter())
    handler.addFilter(ContextFilter())
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in access.filters):
        access.addFilter(RedactTokens())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(get_settings().log_level)
