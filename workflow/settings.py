"""One Settings object, read from the environment (prefix-free names, as operators expect)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "kvalitet"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # "production" refuses the embedded defaults and placeholder secrets (see below).
    kvalitet_env: str = Field(default="development", validation_alias="KVALITET_ENV")
    # Embedded default: a SQLite file; production sets postgresql+psycopg://…
    database_url: str = ""
    data_dir: Path = Field(default=DEFAULT_DATA_DIR, validation_alias="KVALITET_DATA_DIR")

    # E-mail. Embedded default: .eml files in a folder any mail client opens.
    mail_transport: str = "eml"  # "eml" | "smtp"
    mail_dir: Path | None = None  # default: data_dir / "mail"
    mail_from: str = "Kvalitetsutmärkelsen <kvalitetsutmarkelsen@stockholm.se>"
    mail_reply_to: str = "kvalitetsutmarkelsen@stockholm.se"
    message_id_domain: str = "kvalitet.stockholm.se"
    # Who signs every letter: the award office's name and, when set, a person to ask for.
    award_office_name: str = "Kvalitetsutmärkelsen"
    award_office_contact: str = ""
    # Who signs the winners' diplomas and prize letters: the city director (stadsdirektören),
    # who chairs the jury. An empty name leaves a line to sign on by hand.
    prize_signatory_name: str = ""
    prize_signatory_title: str = "Stadsdirektör, ordförande i domarkommittén"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout_seconds: float = 30.0

    # Outbox relay: a claim is held this long before another relay may take the row over;
    # failed sends back off exponentially from the base, and dead-letter after max attempts.
    outbox_lease_seconds: float = 300.0
    outbox_retry_base_seconds: float = 60.0
    outbox_max_attempts: int = 10
    outbox_batch_size: int = 200
    # SMTP connections each outbox task keeps busy at once (threads, each with its own
    # claim): a connection spends most of its time waiting for the server's replies.
    outbox_connections: int = Field(default=2, ge=1, le=16)

    # Threads per web worker for the (synchronous) request handlers. Few on purpose: they
    # share one GIL, and a request that holds SQLite's single write turn, or a database
    # connection, waits for the GIL behind every other running handler. Requests beyond
    # these wait in the event loop instead, which costs them nothing.
    web_threads: int = Field(default=2, ge=1, le=64)

    # Where this service is reached: every e-mail links to the entry's page under it, and a
    # webhook may not point back at it. Production must name it (see below).
    public_url: str = "http://127.0.0.1:8000"
    webhook_timeout_seconds: float = 10.0
    # Webhooks go only to public internet addresses. Names (or addresses) listed here, comma-
    # separated, may be on loopback or a private network: a case register inside the city's net.
    webhook_allowed_hosts: str = ""

    # All the files of one entry together (an extract is a few pages; a contribution may carry
    # photographs): a bound, so one entry cannot fill the database.
    upload_quota_bytes_per_entry: int = Field(default=50 * 1024 * 1024, ge=0)

    # Celery. Empty broker: the embedded default (see tasks/broker.py). The periodic sweeps
    # are the safety net under the after-commit nudges, so they run often.
    celery_broker_url: str = ""
    reminder_sweep_seconds: float = 60.0
    outbox_sweep_seconds: float = 10.0

    # Logs: "json" for one JSON object per line (production), else readable text.
    log_format: str = "text"
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> Settings:
        # A relay renews its claim between messages; a send that outlives the lease lets a
        # second relay take the row over and send it again.
        for name, timeout in (
            ("SMTP_TIMEOUT_SECONDS", self.smtp_timeout_seconds),
            ("WEBHOOK_TIMEOUT_SECONDS", self.webhook_timeout_seconds),
        ):
            if self.outbox_lease_seconds < 2 * timeout:
                raise ValueError(
                    f"OUTBOX_LEASE_SECONDS ({self.outbox_lease_seconds:g}) must be at least "
                    f"twice {name} ({timeout:g})"
                )
        return self

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Settings:
        if self.kvalitet_env != "production":
            return self
        problems = []
        if not self.database_url or self.database_url.startswith("sqlite"):
            problems.append("DATABASE_URL must name PostgreSQL in production")
        if not self.celery_broker_url:
            problems.append("CELERY_BROKER_URL must be set in production")
        for name, value in (
            ("DATABASE_URL", self.database_url),
            ("SMTP_PASSWORD", self.smtp_password),
        ):
            if "change" in value.lower():
                problems.append(f"{name} still holds the placeholder from .env.example")
        if "public_url" not in self.model_fields_set or not _is_public_https(self.public_url):
            problems.append(
                "PUBLIC_URL must be set in production to the https address users reach "
                "(not a loopback address): every e-mail links to it"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def entry_url(self, entry_id: int) -> str:
        """The entry's page as a recipient opens it from an e-mail."""
        return f"{self.public_url.rstrip('/')}/entries/{entry_id}"

    def resolved_mail_dir(self) -> Path:
        return self.mail_dir or self.data_dir / "mail"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'kvalitet.db'}"


def _is_public_https(url: str) -> bool:
    """An https URL whose host is not loopback (nor unspecified)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # a name
    return not (address.is_loopback or address.is_unspecified)


@lru_cache
def get_settings() -> Settings:
    return Settings()
