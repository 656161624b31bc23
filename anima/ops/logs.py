"""Logging set-up: one line per event (plain text or JSON), with every secret redacted.

Redaction happens on the formatted line, so a secret is caught wherever it hides: the message,
its arguments, an exception's text or a traceback (httpx logs request URLs, and Telegram's URLs
carry the bot token). What is secret: every `SecretStr` value in the settings (bot tokens, API
keys, webhook secrets) and every password inside a URL of the settings (`memory.database_url`),
plus anything shaped like a Telegram bot token, an `Authorization` value or a URL's password.
The CLI runs its error messages through the same `Redactor` (anima/cli.py).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, SecretStr

from anima.config import Settings

REDACTED = "<redacted>"
# Shapes of secrets that are not in the settings (a token passed on the command line, a header).
PATTERNS = re.compile(
    r"(?<!\d)\d{5,}:[A-Za-z0-9_-]{30,}"  # a Telegram bot token (in URLs it follows "/bot")
    r"|\b(?i:bearer|bot)\s+[A-Za-z0-9._~+/=-]{20,}"  # an Authorization header value
    r"|\bsk-[A-Za-z0-9_-]{16,}"  # an OpenAI-style API key
)
# The password of `scheme://user:password@host`, masked the way SQLAlchemy's hide_password does.
URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(@)")
# LogRecord attributes that are not `extra=` fields.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def secrets_in(settings: BaseModel) -> list[str]:
    """Every non-empty SecretStr value in a settings tree."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, SecretStr):
            if secret := value.get_secret_value():
                found.append(secret)
        elif isinstance(value, str) and "://" in value and "@" in value:
            found.extend(url_passwords(value))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(settings)
    return found


def url_passwords(url: str) -> list[str]:
    """The password of a URL, as written and decoded (`p%40ss` is also `p@ss`); none when it has none."""
    try:
        password = urlsplit(url.strip()).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []


class Redactor:
    """Replaces known secrets and secret-shaped strings in a text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is replaced whole; short ones would only hit noise.
        known = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, known))) if known else None

    @classmethod
    def for_settings(cls, settings: BaseModel) -> Redactor:
        return cls(secrets_in(settings))

    def __call__(self, text: str) -> str:
        text = URL_PASSWORD.sub(r"\1***\2", text)
        if self._known is not None:
            text = self._known.sub(REDACTED, text)
        return PATTERNS.sub(REDACTED, text)


class RedactFilter(logging.Filter):
    """A logging filter that redacts secrets in records of loggers Anima does not format (httpx logs
    every request URL, and Telegram's URLs carry the bot's token)."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self.redact = Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class TextFormatter(logging.Formatter):
    """`2026-11-25T18:40:01.123Z WARNING anima.core.pipeline: message`, tracebacks kept on the line."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{key}={value}" for key, value in extras.items())
        if record.exc_info:
            line += " | " + self.formatException(record.exc_info)
        return self.redact(line).replace("\n", "\\n")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, `extra=` fields, and exc when there is one."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, object] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        # Redacting the serialised line also covers secrets inside extras; json escapes keep it one line.
        return self.redact(json.dumps(event, ensure_ascii=False, default=str))


def formatter_for(settings: Settings) -> logging.Formatter:
    redact = Redactor(secrets_in(settings))
    return JsonFormatter(redact) if settings.ops.log_format == "json" else TextFormatter(redact)


# Libraries that report their own business at INFO (each HTTP request, gateway events, migrations).
QUIET_LIBRARIES = ("httpx", "httpcore", "telegram", "discord", "aiohttp", "openai", "alembic", "apscheduler")
# Library warnings that do not concern an Anima user: Anima never joins Discord voice channels.
IRRELEVANT_WARNINGS = ("PyNaCl is not installed", "davey is not installed")


def _relevant(record: logging.LogRecord) -> bool:
    return not (record.name.startswith("discord") and str(record.msg).startswith(IRRELEVANT_WARNINGS))


def setup_logging(
    settings: Settings, stream: IO[str] | None = None, default_level: str = "WARNING"
) -> logging.Handler | None:
    """Send every log record to stderr (or `stream`), one redacted line each, at `settings.log_level`
    (`default_level` when the config sets none). Libraries speak only from WARNING on, unless DEBUG.

    Like `logging.basicConfig`, it leaves a root logger alone that someone else has configured
    (an application embedding Anima, pytest); calling it again replaces its own handler.
    """
    root = logging.getLogger()
    if any(not isinstance(h, _AnimaHandler) for h in root.handlers):
        return None
    for old in root.handlers[:]:
        root.removeHandler(old)
    handler = _AnimaHandler(stream)
    handler.setFormatter(formatter_for(settings))
    handler.addFilter(_relevant)
    root.addHandler(handler)
    level = settings.log_level or default_level
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET if level == "DEBUG" else logging.WARNING)
    return handler


class _AnimaHandler(logging.StreamHandler[IO[str]]):
    """The handler setup_logging installs (so a second call knows it may replace it)."""


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {key: value for key, value in record.__dict__.items() if key not in _STANDARD}
