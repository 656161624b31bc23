"""`anima safety report [--since]`: what the safety checks decided, counted, from the audit table."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from anima.errors import AnimaError
from anima.memory.database import open_database
from anima.safety.audit import Audit

_AGO = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str | None, now: datetime | None = None) -> datetime | None:
    """'24h', '7d', '2w', '30m', or a date/time such as 2026-11-01 or 2026-11-01T08:00 (UTC)."""
    if not value:
        return None
    now = now or datetime.now(UTC)
    ago = _AGO.match(value.strip().lower())
    if ago:
        return now - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise AnimaError(
            f"--since {value!r}: write a span such as 24h, 7d, 2w, or a date such as 2026-11-01"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def report(database_url: str, since: datetime | None) -> str:
    database = open_database(database_url)
    try:
        rows = await Audit(database).report(since)
    finally:
        await database.close()
    when = f"since {since:%Y-%m-%d %H:%M} UTC" if since else "all time"
    if not rows:
        return f"safety report ({when}): no decisions recorded"
    lines = [
        f"safety report ({when}): {sum(r.count for r in rows)} decisions",
        f"{'stage':<7} {'check':<11} {'action':<11} {'category':<17} {'count':>6} {'chats':>6} "
        f"{'users':>6}  last",
    ]
    for r in rows:
        last = r.last if isinstance(r.last, datetime) else datetime.fromisoformat(str(r.last))
        lines.append(
            f"{r.stage:<7} {r.check:<11} {r.action:<11} {r.category or '-':<17} {r.count:>6} {r.chats:>6} "
            f"{r.users:>6}  {last:%Y-%m-%d %H:%M}"
        )
    return "\n".join(lines)
