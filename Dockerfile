# One image for web, worker, scheduler and migrations (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    KVALITET_DATA_DIR=/data
WORKDIR /app
RUN useradd --create-home --uid 10001 kvalitet && mkdir /data && chown kvalitet /data

COPY pyproject.toml requirements.lock README.md ./
COPY workflow ./workflow
COPY tasks ./tasks
COPY templates ./templates
# Editable, so the package finds templates/ beside it at /app; the versions CI tested.
RUN pip install -c requirements.lock -e .

USER kvalitet
EXPOSE 8000
CMD ["uvicorn", "--factory", "workflow.entrypoints.http.app:create_app", "--host", "0.0.0.0", "--port", "8000"]
