"""One person on several platforms: one-time /link codes, the accounts they join, and which of the
person's conversations a character may remember from (memory.linked_scope)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select
from sqlmodel import col

from anima.memory.models import AccountLink, Conversation, LinkCode, User, as_utc, insert_row, primary

CODE_VALID = timedelta(minutes=10)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
CODE_LENGTH = 6
Account = tuple[str, str]  # (platform, user id on it)


@dataclass(frozen=True)
class Joined:
    """What `/link CODE` did: the account the code came from, or why nothing was joined."""

    other: Account | None = None
    problem: str = ""


def new_code(conn: Connection, account: Account, now: datetime) -> str:
    """A fresh one-time code for `account` (its older codes, and every expired one, are dropped)."""
    platform, user_id = account
    conn.execute(
        delete(LinkCode).where(
            (col(LinkCode.expires_at) < now)
            | ((col(LinkCode.platform) == platform) & (col(LinkCode.user_id) == user_id))
        )
    )
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    insert_row(conn, LinkCode, code=code, platform=platform, user_id=user_id, expires_at=now + CODE_VALID)
    return code


def redeem(conn: Connection, code: str, account: Account, now: datetime) -> Joined:
    """Join `account` with the account that made `code`; the code works once (the DELETE that takes
    it decides, so two redeemers at once cannot both win)."""
    code = code.strip().upper()
    row = conn.execute(
        select(col(LinkCode.platform), col(LinkCode.user_id), col(LinkCode.expires_at)).where(
            col(LinkCode.code) == code
        )
    ).first()
    if row is None or as_utc(row[2]) < now:
        return Joined(problem="That code is unknown or expired: run /link again where you made it.")
    other: Account = (row[0], row[1])
    if other == account:
        return Joined(problem="That code is this account's own: send /link CODE from your other account.")
    if not conn.execute(delete(LinkCode).where(col(LinkCode.code) == code)).rowcount:
        return Joined(problem="That code was just used.")
    person = _person(conn, other) or _person(conn, account) or f"{other[0]}:{other[1]}"
    for platform, user_id in {other, account, *_accounts_of(conn, _person(conn, account))}:
        conn.execute(
            delete(AccountLink).where(
                col(AccountLink.platform) == platform, col(AccountLink.user_id) == user_id
            )
        )
        insert_row(conn, AccountLink, platform=platform, user_id=user_id, person=person, linked_at=now)
    return Joined(other=other)


def unlink(conn: Connection, account: Account) -> list[Account]:
    """Take `account` out of its person; returns the accounts it was joined with (a lone one left
    behind is no link any more, and goes too)."""
    person = _person(conn, account)
    if person is None:
        return []
    others = [a for a in _accounts_of(conn, person) if a != account]
    gone = [account, *others] if len(others) == 1 else [account]
    for platform, user_id in gone:
        conn.execute(
            delete(AccountLink).where(
                col(AccountLink.platform) == platform, col(AccountLink.user_id) == user_id
            )
        )
    return others


def linked_accounts(conn: Connection, account: Account) -> list[Account]:
    """The other accounts joined with `account`, by platform."""
    return [a for a in _accounts_of(conn, _person(conn, account)) if a != account]


def forget_links(conn: Connection, account: Account) -> None:
    """A forgotten account is no one's link any more, and its codes are gone."""
    unlink(conn, account)
    platform, user_id = account
    conn.execute(delete(LinkCode).where(col(LinkCode.platform) == platform, col(LinkCode.user_id) == user_id))


def shared_conversations(
    conn: Connection, accounts: list[Account], character_id: str, private_only: bool
) -> list[int]:
    """The conversations of `accounts` with one character whose memories may be recalled elsewhere:
    only their private chats' with `private_only`."""
    found: list[int] = []
    for platform, user_id in accounts:
        query = (
            select(primary(Conversation.id))
            .join(User, col(User.id) == col(Conversation.user_id))
            .where(
                col(User.platform) == platform,
                col(User.platform_user_id) == user_id,
                col(Conversation.character_id) == character_id,
            )
        )
        if private_only:
            query = query.where(col(Conversation.private))
        found += conn.execute(query).scalars()
    return found


def _person(conn: Connection, account: Account) -> str | None:
    platform, user_id = account
    return conn.execute(
        select(col(AccountLink.person)).where(
            col(AccountLink.platform) == platform, col(AccountLink.user_id) == user_id
        )
    ).scalar()


def _accounts_of(conn: Connection, person: str | None) -> list[Account]:
    if person is None:
        return []
    rows = conn.execute(
        select(col(AccountLink.platform), col(AccountLink.user_id))
        .where(col(AccountLink.person) == person)
        .order_by(col(AccountLink.platform), col(AccountLink.user_id))
    )
    return [(p, u) for p, u in rows]
