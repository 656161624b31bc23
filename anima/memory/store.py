"""The message store: per character × user × chat history that survives restarts."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from sqlalchemy import (
    Boolean,
    Connection,
    Float,
    Integer,
    String,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.sql.elements import TextClause
from sqlmodel import col

from anima.core.messages import ChatMessage, ConversationKey, HistoryRole, KeptPicture
from anima.errors import EmbeddingUnavailable, MemoryStoreError
from anima.memory import migrate
from anima.memory.database import Database, open_database, shown_url
from anima.memory.export import export_user
from anima.memory.facts import SINGLE_VALUED, FactCandidate
from anima.memory.forget import forget_person
from anima.memory.links import (
    CODE_VALID,
    Account,
    Joined,
    linked_accounts,
    new_code,
    redeem,
    shared_conversations,
    unlink,
)
from anima.memory.models import (
    Conversation,
    Fact,
    MemoryVector,
    Message,
    Preference,
    SearchEntry,
    StoredPicture,
    Summary,
    User,
    as_utc,
    insert_row,
    inserted_id,
    primary,
    table_of,
    utcnow,
)
from anima.memory.recall import HIT_COLUMNS, PINNED, Memory, RecallRequest, recall, without_names
from anima.memory.search import index_text

if TYPE_CHECKING:
    from anima.core.ordering import ConversationLocks
    from anima.memory.vectors import Encoding, VectorIndex

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_DELAYS_S = (0.5, 1, 2, 5)  # then every 5 s until it goes through or the store closes
RETRY_WAIT_S = 0.2  # a retry waits this long for SQLite's write lock (not busy_timeout's 5 s)
ADD_WAIT_S = 1.0  # a message waits this long for it, then queues for the retries (a reply waits on it)
LINKS_CACHE_S = 60.0
MAX_CACHED_LINKS = 50_000
MAX_WRONG_CODES = 5  # per account in CODE_VALID: one of 32^6 codes is not guessed five at a time
TOO_MANY_WRONG = "Too many wrong codes from this account: wait 10 minutes, then send /link CODE again."
WRITE_ERRORS = (SQLAlchemyError, OSError)  # OSError: a PostgreSQL server that cannot be reached
EMBED_ROWS = 64  # memories embedded per transaction in the background (embed_pending)


@dataclass
class WriteOutage:
    """Message writes failing since `started` (monotonic): logged when it starts and when it ends."""

    started: float
    error: str
    failures: int = 1
    stored: int = 0  # messages written by retries since


@dataclass(frozen=True)
class StoredMessage(ChatMessage):
    """A message as stored; it is a ChatMessage, so history goes into a prompt without copying."""

    id: int = 0
    created_at: datetime | None = None
    cut: bool = False


_OPENINGS = itertools.count(1)


@dataclass
class ConversationState:
    """A conversation's ids and its recent messages, cached so recall needs no query per turn."""

    id: int
    user_id: int
    recent: deque[StoredMessage]
    starts_after: int = 0  # the last message before the latest /reset: recall starts after it too
    # messages whose write failed (database locked or full), retried in order in the background
    unsaved: list[dict[str, Any]] = field(default_factory=list)
    key: ConversationKey | None = None
    private: bool = False  # a one-to-one chat (what is said here may reach linked accounts)
    weight: int = 0  # what its cached messages cost in memory, roughly (bytes; see _weight)
    forgotten: bool = False  # its user was forgotten: background work on it stops, nothing is written
    # when it was opened: SQLite reuses a deleted conversation's id, so "forgotten" is about the states
    # opened before the forget, never about a new conversation that got the same id
    opened: int = field(default_factory=lambda: next(_OPENINGS))


@dataclass(frozen=True)
class KnownFact:
    """A fact the character keeps about the user, as /memory and the export show it."""

    topic: str
    content: str  # a predicate about the user: "lives in Berlin"
    since: datetime
    about: datetime | None = None  # the date it is about (a birthday, a plan)
    superseded: bool = False


@dataclass(frozen=True)
class MemoryView:
    """What a character keeps about a user, for /memory."""

    character_id: str
    display_name: str
    total_messages: int
    in_history: int
    first_seen: datetime | None
    recent: list[StoredMessage]
    facts: list[KnownFact] = field(default_factory=list)  # current facts, most important first
    summary: str | None = None  # the newest summary of older conversation, if one was made


_INSERT_MESSAGE = table_of(Message).insert()  # built once: a per-call .values() costs ~0.1 ms
_INSERT_ENTRY = table_of(SearchEntry).insert()
# the columns a StoredMessage is made of, in the order it takes them
_STORED_MESSAGE = (
    col(Message.role),
    col(Message.content),
    primary(Message.id),
    col(Message.created_at),
    col(Message.cut),
)
_APPEND_CONTEXT = text(
    "UPDATE search_entries SET context = context || ' ' || :next WHERE kind = 'turn' AND item_id = :previous"
)
RECALLED_CONVERSATIONS = 4096  # conversations whose last recall /memory why can show
TURN_IMPORTANCE = {"user": 0.5, "assistant": 0.3}  # what the user says about themself matters more
INBOX_RETENTION = timedelta(days=2)  # Telegram redelivers for at most 24 h; Discord ids never repeat
SHARE_PRIVATE = "share_private"  # a person's preference: their relationship lines may reach groups
CACHE_CONVERSATIONS = 10_000  # conversations whose recent messages stay cached (least recently used go)
CACHE_BYTES = 32 * 1024 * 1024  # and the cached messages' size over all of them (config: memory.cache_mb)
MESSAGE_OVERHEAD = 200  # bytes a cached message costs besides its text (the object, the deque slot)


def storable_text(text: str) -> str:
    """`text` with NUL (PostgreSQL refuses it) and lone surrogates (not UTF-8) as U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode()
    except UnicodeEncodeError:
        text = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def _weight(recent: deque[StoredMessage]) -> int:
    """Roughly what a conversation's cached messages cost in memory, in bytes."""
    return sum(len(m.content) for m in recent) * 2 + MESSAGE_OVERHEAD * len(recent)


class MemoryStore:
    def __init__(
        self, database: Database, history_messages: int = 200, vectors: VectorIndex | None = None
    ) -> None:
        self.database = database
        self.history_messages = history_messages
        self.vectors = vectors  # optional vector recall (memory.vectors)
        # The recent messages of the conversations used last, bounded in count and size: the least
        # recently used go first (read again from the database when they come back). A conversation
        # with messages still waiting for a write retry is never dropped, so nothing unsaved is lost.
        self._conversations: OrderedDict[ConversationKey, ConversationState] = OrderedDict()
        self.cache_conversations = CACHE_CONVERSATIONS  # set by `open`
        self.cache_bytes = CACHE_BYTES
        self._cached_bytes = 0
        # The runtime's conversation locks (anima/app.py): forget_user holds the person's while it runs.
        self.locks: ConversationLocks | None = None
        self._recalled: OrderedDict[int, list[Memory]] = OrderedDict()  # conversation → last recall
        # conversations deleted by forget_user while this store runs: id → the first opening after it
        self._forgotten: dict[int, int] = {}
        # answered platform events are deleted this long after their answer (memory.inbox_retention_hours)
        self.inbox_retention = INBOX_RETENTION
        # thumbnails of pictures people sent are deleted this long after (images.retention_days; 0: none kept)
        self.picture_retention = timedelta(days=30)
        self._retrying: asyncio.Task[None] | None = None
        self._outage: WriteOutage | None = None
        # What "now" is: messages are stamped and recall measures recency with it (tests move it).
        self.clock: Callable[[], datetime] = utcnow
        # Called with (platform, user id) after forget_user: caches of what was deleted drop it (anima/soul).
        self.forget_listeners: list[Callable[[str, str], None]] = []
        # Other processes may write the same conversations (several `anima run` on one PostgreSQL):
        # a cached conversation is then checked, one small query, before it is used.
        self.other_writers = False
        # what a character remembers of a person reaches their linked accounts (memory.linked_scope)
        self.linked_scope: Literal["private", "all", "none"] = "private"
        self._links: dict[Account, tuple[list[Account], float]] = {}
        self._wrong_codes: dict[Account, list[datetime]] = {}  # /link CODE guesses, this process's

    @classmethod
    async def open(
        cls,
        url: str,
        history_messages: int = 200,
        vectors: bool | None = False,
        encoder: Encoding = "static",
        cache_conversations: int = CACHE_CONVERSATIONS,
        cache_bytes: int = CACHE_BYTES,
    ) -> MemoryStore:
        """Open the database and migrate its schema to the newest revision; `vectors` loads the
        `encoder` (True: an AnimaError says how to install it when missing; None: vector recall is
        on when the model is installed, full text alone otherwise)."""
        index = None
        if vectors or vectors is None:
            from anima.memory.vectors import VectorIndex
            from anima.memory.vectors import encoder as load

            try:
                index = VectorIndex(await asyncio.to_thread(load, encoder))
            except EmbeddingUnavailable as exc:
                if vectors:
                    raise
                log.warning("recall by full text alone: %s", exc)
        try:
            database = open_database(url)
            await database.transaction(migrate.upgrade)
        except (SQLAlchemyError, OSError) as exc:
            raise MemoryStoreError(
                f"cannot open the memory database {shown_url(url)}: {_database_error(exc)}"
            ) from exc
        store = cls(database, history_messages, index)
        store.cache_conversations, store.cache_bytes = cache_conversations, cache_bytes
        return store

    async def close(self) -> None:
        if self._retrying is not None:
            self._retrying.cancel()
            await asyncio.gather(self._retrying, return_exceptions=True)
        if not await self.flush(wait_s=None):  # a last try, waiting the full busy_timeout
            log.error(
                "closing with %d messages not stored: the memory database still fails (%s)",
                self.unsaved_count(),
                self._outage.error if self._outage else "",
            )
        await self.database.close()
        if self.vectors is not None:
            self.vectors.close()

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work(connection)` in one transaction; database errors become MemoryStoreError."""
        try:
            return await self.database.transaction(work)
        except WRITE_ERRORS as exc:
            raise MemoryStoreError(f"memory database error: {_database_error(exc)}") from exc

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Like `run` for work that only reads: it takes no write lock, so a SQLite database that
        another process is writing (or that is full) still answers at once."""
        try:
            return await self.database.read(work)
        except WRITE_ERRORS as exc:
            raise MemoryStoreError(f"memory database error: {_database_error(exc)}") from exc

    async def conversation(
        self, key: ConversationKey, display_name: str, bot_id: str = "", private: bool = False
    ) -> ConversationState:
        """The conversation for `key`, created on first contact; cached after the first call.
        `bot_id`: the bot account it is held through, kept with it (the first one it is seen with);
        `private`: whether it is a private chat, kept when it is created (and marked when a
        conversation opened by a command turns out to be one: memory.linked_scope reads it)."""
        state = await self._conversation(key, display_name, bot_id, private)
        if private and not state.private:
            state.private = True
            mark = update(Conversation).where(primary(Conversation.id) == state.id).values(private=True)
            await self.run(lambda conn: conn.execute(mark))
        return state

    async def _conversation(
        self, key: ConversationKey, display_name: str, bot_id: str, private: bool
    ) -> ConversationState:
        state = self._conversations.get(key)
        if state is not None and self.other_writers and not state.unsaved:
            cached = state
            try:
                elsewhere = await self.read(lambda conn: _written_elsewhere(conn, cached))
            except MemoryStoreError as exc:  # answer from the cached history rather than not at all
                log.warning("could not check for other processes' writes: %s", exc)
                elsewhere = False
            if elsewhere:
                fresh = await self.run(
                    lambda conn: self._open_conversation(conn, key, display_name, bot_id, private)
                )
                state.id, state.user_id = fresh.id, fresh.user_id  # new ones if it was forgotten
                state.opened, state.forgotten = fresh.opened, False
                state.recent, state.starts_after = fresh.recent, fresh.starts_after
                state.private = fresh.private
        if state is None:
            state = await self.run(
                lambda conn: self._open_conversation(conn, key, display_name, bot_id, private)
            )
            self._conversations[key] = state
        self._conversations.move_to_end(key)
        self._reweigh(state)
        return state

    def _reweigh(self, state: ConversationState) -> None:
        """Account for a cached conversation's new size, then keep the cache within its bounds."""
        weight = _weight(state.recent)
        self._cached_bytes += weight - state.weight
        state.weight = weight
        self._evict()

    def _evict(self) -> None:
        """Drop least recently used conversations while the cache is over either bound; the newest
        one always stays, and so does one with messages waiting for a write retry."""
        if len(self._conversations) <= self.cache_conversations and self._cached_bytes <= self.cache_bytes:
            return
        for key in list(self._conversations)[:-1]:
            if (
                len(self._conversations) <= self.cache_conversations
                and self._cached_bytes <= self.cache_bytes
            ):
                return
            state = self._conversations[key]
            if not state.unsaved:
                del self._conversations[key]
                self._cached_bytes -= state.weight

    def cached(self) -> tuple[int, int]:
        """How many conversations are cached, and roughly how many bytes their messages take."""
        return len(self._conversations), self._cached_bytes

    def _open_conversation(
        self,
        conn: Connection,
        key: ConversationKey,
        display_name: str,
        bot_id: str = "",
        private: bool = False,
    ) -> ConversationState:
        user_id = _user_id(conn, key.platform, key.user_id, display_name)
        row = conn.execute(
            select(
                primary(Conversation.id),
                col(Conversation.history_starts_after),
                col(Conversation.bot_id),
                col(Conversation.private),
            ).where(
                col(Conversation.character_id) == key.character_id,
                col(Conversation.user_id) == user_id,
                col(Conversation.platform) == key.platform,
                col(Conversation.chat_id) == key.chat_id,
            )
        ).first()
        if row is None:
            result = insert_row(
                conn,
                Conversation,
                character_id=key.character_id,
                user_id=user_id,
                platform=key.platform,
                chat_id=key.chat_id,
                bot_id=bot_id,
                private=private,
                history_starts_after=0,
                created_at=utcnow(),
            )
            conv_id, starts_after = inserted_id(result), 0
        else:
            conv_id, starts_after, known_bot, private = row
            if bot_id and not known_bot:  # held before bots were told apart (migration 0007)
                conn.execute(
                    update(Conversation).where(primary(Conversation.id) == conv_id).values(bot_id=bot_id)
                )
        rows = conn.execute(
            select(*_STORED_MESSAGE)
            .where(col(Message.conversation_id) == conv_id, primary(Message.id) > starts_after)
            .order_by(primary(Message.id).desc())
            .limit(self.history_messages)
        ).all()
        recent = [
            StoredMessage(cast(HistoryRole, role), content, i, as_utc(at) if at else None, cut)
            for role, content, i, at, cut in reversed(rows)
        ]
        return ConversationState(
            conv_id,
            user_id,
            deque(recent, maxlen=self.history_messages),
            starts_after=starts_after,
            key=key,
            private=bool(private),
        )

    async def add(
        self,
        state: ConversationState,
        role: HistoryRole,
        content: str,
        platform_message_id: str | None = None,
        cut: bool = False,
        at: datetime | None = None,
    ) -> StoredMessage:
        """Commit one message and index it for recall; when this returns, it survives a crash.

        If the database is locked, full or unreachable, the message is kept in memory and retried
        in the background (in order with any later ones), the outage is logged once, and the caller
        goes on: a reply is never held back by a write. Its StoredMessage then has id 0. While an
        outage lasts, later messages wait for the retries instead of trying (and waiting) again.
        """
        created = at or self.clock()
        content = storable_text(content)
        if self.is_forgotten(state):  # a late write for a person forgotten meanwhile: nothing is kept
            return StoredMessage(role, content, 0, created, cut)
        row = {
            "conversation_id": state.id,
            "role": role,
            "content": content,
            "platform_message_id": platform_message_id,
            "cut": cut,
            "created_at": created,
            "context": state.recent[-1].content if state.recent else "",
            "previous": state.recent[-1].id if state.recent else 0,
        }
        message_id = 0
        if not state.unsaved and self._outage is None:
            try:
                message_id = await self.database.transaction(lambda conn: _insert_turn(conn, row), ADD_WAIT_S)
            except IntegrityError as exc:
                if await self._deleted_elsewhere(state):  # forgotten by another process meanwhile
                    return StoredMessage(role, content, 0, created, cut)
                self._write_failed(exc, f"the {role}'s message in conversation {state.id}")
            except WRITE_ERRORS as exc:
                self._write_failed(exc, f"the {role}'s message in conversation {state.id}")
        if not message_id:
            state.unsaved.append(row)
            self._retry_soon()
        stored = StoredMessage(role, content, message_id, created, cut)
        state.recent.append(stored)
        if state.key is not None and self._conversations.get(state.key) is state:
            self._reweigh(state)
        return stored

    async def flush(self, wait_s: float | None = None) -> bool:
        """Try now to write every message whose write failed; True when none is left unsaved.
        The first failure ends the try: the database is the same for every conversation."""
        for state in list(self._conversations.values()):
            if state.unsaved and not await self._flush(state, wait_s):
                return False
        if self._outage is not None:
            outage, self._outage = self._outage, None
            log.warning(
                "memory database writable again after %.1f s: stored the %d messages that waited",
                time.monotonic() - outage.started,
                outage.stored,
            )
        return True

    def unsaved_count(self) -> int:
        """Messages whose write failed and waits for a retry."""
        return sum(len(state.unsaved) for state in self._conversations.values())

    async def settled(self, within_s: float) -> bool:
        """Wait up to `within_s` for the background retries to store every waiting message."""
        if self._retrying is not None and not self._retrying.done():
            await asyncio.wait({self._retrying}, timeout=within_s)
        return not self.unsaved_count()

    def _write_failed(self, exc: BaseException, what: str) -> None:
        """Log a write outage once, with context, when it starts; later failures only count."""
        if self._outage is not None:
            self._outage.failures += 1
            log.debug("memory database still fails (%d failures): %s", self._outage.failures, exc)
            return
        self._outage = WriteOutage(time.monotonic(), _database_error(exc))
        log.error(
            "memory database (%s) cannot be written: %s. Keeping %s in memory and retrying until it "
            "works (replies go on; later messages wait with it)",
            self.database.dialect,
            self._outage.error,
            what,
        )

    def _retry_soon(self) -> None:
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.get_running_loop().create_task(self._retry_unsaved())

    async def _retry_unsaved(self) -> None:
        for attempt in itertools.count():
            await asyncio.sleep(RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)])
            if await self.flush(RETRY_WAIT_S):
                return

    async def _flush(self, state: ConversationState, wait_s: float | None) -> bool:
        """Write a conversation's unsaved messages, oldest first, each in its own transaction;
        False when one fails (it stays first in line)."""
        while state.unsaved:
            row = state.unsaved[0]
            try:
                message_id = await self.database.transaction(partial(_insert_turn_once, row=row), wait_s)
            except WRITE_ERRORS as exc:
                if isinstance(exc, IntegrityError) and await self._deleted_elsewhere(state):
                    return True  # its person was forgotten (`anima memory forget`): nothing to store
                self._write_failed(exc, f"{len(state.unsaved)} messages of conversation {state.id}")
                return False
            state.unsaved.pop(0)
            if self._outage is not None:
                self._outage.stored += 1
            for i, stored in enumerate(state.recent):  # give the cached copy its id
                if (
                    stored.id == 0
                    and stored.created_at == row["created_at"]
                    and stored.content == row["content"]
                ):
                    state.recent[i] = StoredMessage(
                        stored.role, stored.content, message_id, stored.created_at, stored.cut
                    )
                    break
        return True

    async def recall(
        self,
        state: ConversationState,
        text: str,
        now: datetime | None = None,
        limit: int = 8,
        skip_recent: int = 16,
        speakers: dict[str, str] | None = None,
    ) -> list[Memory]:
        """The memories of this conversation that best fit `text` (see anima.memory.recall).

        The newest `skip_recent` messages are left out: they are in the prompt's history anyway.
        `speakers` maps lower-cased names to roles, so "what did Lin say about…" favours Lin's turns.
        """
        recent = list(state.recent)[-skip_recent:] if skip_recent else []
        vector, index = None, self.vectors
        question = without_names(text[:2000], speakers or {})  # stored turns rarely say the names
        if index is not None and not index.quick:
            vector = (await index.embed([question]))[0]
        request = RecallRequest(
            state.id,
            text,
            now or self.clock(),
            limit,
            frozenset(m.id for m in recent),
            speakers,
            state.starts_after,
            vector,
        )
        linked = (
            []
            if state.key is None
            else await self.linked_for(state.key.platform, state.key.user_id, state.private)
        )

        def work(conn: Connection) -> list[Memory]:
            shared = request
            if linked:
                assert state.key is not None
                ids = shared_conversations(
                    conn, linked, state.key.character_id, self.linked_scope == "private"
                )
                shared = replace(request, shared=tuple(ids))
            if index is not None and index.quick:  # embedded where recall runs: one thread hop, not two
                shared = replace(shared, vector=index.embed_now([question])[0])
            return recall(conn, shared, index)

        found = await self.read(work)
        self._recalled[state.id] = found  # for /memory why: what the latest reply was given
        self._recalled.move_to_end(state.id)
        while len(self._recalled) > RECALLED_CONVERSATIONS:
            self._recalled.popitem(last=False)
        return found

    async def linked_for(self, platform: str, user_id: str, private: bool) -> list[Account]:
        """The linked accounts whose memories a chat of this person may recall (memory.linked_scope):
        with "private", only a private chat, and only from their private chats."""
        if self.linked_scope == "none" or (self.linked_scope == "private" and not private):
            return []
        return await self.linked((platform, user_id))

    # -- accounts linked with /link (anima/memory/links.py) ---------------------------------------

    async def link_code(self, account: Account) -> str:
        """A one-time code that joins `account` with the account that sends it back (valid 10 minutes)."""
        now = self.clock()
        return await self.run(lambda conn: new_code(conn, account, now))

    async def link(self, code: str, account: Account) -> Joined:
        """Join `account` with the one that made `code`; after MAX_WRONG_CODES wrong ones within
        CODE_VALID, none is tried (codes are not guessed)."""
        now = self.clock()
        wrong = [at for at in self._wrong_codes.get(account, []) if at > now - CODE_VALID]
        if len(wrong) >= MAX_WRONG_CODES:
            return Joined(problem=TOO_MANY_WRONG)
        joined = await self.run(lambda conn: redeem(conn, code, account, now))
        self._links.clear()
        if joined.other is None:
            if len(self._wrong_codes) >= MAX_CACHED_LINKS:
                self._wrong_codes.clear()
            self._wrong_codes[account] = [*wrong, now]
        else:
            self._wrong_codes.pop(account, None)
        return joined

    async def unlink(self, account: Account) -> list[Account]:
        others = await self.run(lambda conn: unlink(conn, account))
        self._links.clear()
        return others

    async def linked(self, account: Account) -> list[Account]:
        """The other accounts joined with `account` (cached LINKS_CACHE_S: another process's /link
        is seen that soon)."""
        now = time.monotonic()
        cached = self._links.get(account)
        if cached is not None and cached[1] > now:
            return cached[0]
        found = await self.read(lambda conn: linked_accounts(conn, account))
        if len(self._links) >= MAX_CACHED_LINKS:
            self._links.clear()
        self._links[account] = (found, now + LINKS_CACHE_S)
        return found

    async def accounts(self, account: Account) -> list[Account]:
        """`account` and the accounts linked with it: what forget and export cover."""
        return [account, *await self.linked(account)]

    def last_recalled(self, state: ConversationState) -> list[Memory]:
        """The memories the latest recall in this conversation found (in this process), best first."""
        return list(self._recalled.get(state.id, ()))

    async def embed_pending(self, state: ConversationState, limit: int = 256) -> int:
        """Give vectors to the conversation's memories that have none yet (vector recall only);
        returns how many were embedded. Runs in the background, never on a reply's path."""
        vectors = self.vectors
        if vectors is None or self.is_forgotten(state):
            return 0
        done = 0
        while done < limit:
            if vectors.quick:  # embedded where the rows are read: one transaction, one thread hop
                entries, found = await self.run(
                    partial(vectors.embed_unembedded, conversation_id=state.id, limit=EMBED_ROWS)
                )
            else:
                rows = await self.run(lambda conn: vectors.unembedded(conn, state.id, EMBED_ROWS))
                entries, found = [entry for entry, _ in rows], None
                if rows:
                    found = await vectors.embed([text for _, text in rows])
                    await self.run(
                        partial(vectors.store, conversation_id=state.id, entries=entries, vectors=found)
                    )
            vectors.committed(state.id, entries, found)
            count = len(entries)
            done += count
            if count < EMBED_ROWS:  # none left: no query more to find that out
                break
        return done

    async def remember_facts(
        self,
        state: ConversationState,
        candidates: Sequence[FactCandidate],
        source: str = "rules",
        source_message_id: int | None = None,
        at: datetime | None = None,
    ) -> int:
        """Store new facts; one on a single-valued topic ("home") supersedes the current one.
        A fact already known (same topic and words) is not stored twice. Returns how many were new."""
        if not candidates or self.is_forgotten(state):
            return 0
        now = at or self.clock()

        def work(conn: Connection) -> int:
            return sum(
                _store_fact(conn, state.id, fact, source, source_message_id, now) for fact in candidates
            )

        return await self.run(work)

    async def facts(self, state: ConversationState, include_superseded: bool = False) -> list[KnownFact]:
        """The facts kept about the user in this conversation, most important first."""
        query = select(
            col(Fact.topic),
            col(Fact.content),
            col(Fact.created_at),
            col(Fact.happened_at),
            col(Fact.superseded_at),
        ).where(col(Fact.conversation_id) == state.id)
        if not include_superseded:
            query = query.where(col(Fact.superseded_at).is_(None))
        query = query.order_by(col(Fact.importance).desc(), primary(Fact.id).desc())
        rows = await self.read(lambda conn: conn.execute(query).all())
        return [
            KnownFact(topic, content, as_utc(since), as_utc(about) if about else None, superseded is not None)
            for topic, content, since, about, superseded in rows
        ]

    async def unsummarised(self, state: ConversationState, limit: int) -> list[StoredMessage]:
        """The oldest `limit` messages after the newest summary (fewer when not that many exist)."""

        def work(conn: Connection) -> list[StoredMessage]:
            after = conn.execute(
                select(func.max(col(Summary.last_message_id))).where(col(Summary.conversation_id) == state.id)
            ).scalar()
            rows = conn.execute(
                select(*_STORED_MESSAGE)
                .where(col(Message.conversation_id) == state.id, primary(Message.id) > (after or 0))
                .order_by(primary(Message.id))
                .limit(limit)
            ).all()
            return [
                StoredMessage(cast(HistoryRole, role), content, i, as_utc(at), cut)
                for role, content, i, at, cut in rows
            ]

        return await self.run(work)

    async def add_summary(
        self, state: ConversationState, covered: Sequence[StoredMessage], content: str
    ) -> int:
        """Store a summary of `covered` (consecutive messages), searchable from now on."""
        if self.is_forgotten(state):
            return 0
        first, last = covered[0], covered[-1]
        now = self.clock()

        def work(conn: Connection) -> int:
            summary_id = inserted_id(
                insert_row(
                    conn,
                    Summary,
                    conversation_id=state.id,
                    first_message_id=first.id,
                    last_message_id=last.id,
                    content=content,
                    started_at=first.created_at,
                    ended_at=last.created_at,
                    created_at=now,
                )
            )
            _index(conn, state.id, "summary", summary_id, content, 0.6, last.created_at or now)
            return summary_id

        return await self.run(work)

    async def reset(self, state: ConversationState) -> None:
        """Start a fresh conversation: older messages stay stored (and in /memory counts) but leave the
        short-term history and recall; facts about the user stay known."""

        def work(conn: Connection) -> int:
            last = conn.execute(
                select(func.max(primary(Message.id))).where(col(Message.conversation_id) == state.id)
            ).scalar()
            conn.execute(
                update(Conversation)
                .where(primary(Conversation.id) == state.id)
                .values(history_starts_after=last or 0)
            )
            return last or 0

        state.starts_after = await self.run(work)
        state.recent.clear()
        if state.key is not None and self._conversations.get(state.key) is state:
            self._reweigh(state)

    async def view(self, key: ConversationKey, display_name: str, last: int = 6) -> MemoryView:
        state = await self.conversation(key, display_name)

        def work(conn: Connection) -> tuple[int, datetime, str | None]:
            total = conn.execute(
                select(func.count()).where(col(Message.conversation_id) == state.id)
            ).scalar_one()
            first = conn.execute(
                select(col(Conversation.created_at)).where(primary(Conversation.id) == state.id)
            ).scalar_one()
            summary = conn.execute(
                select(col(Summary.content))
                .where(col(Summary.conversation_id) == state.id)
                .order_by(col(Summary.last_message_id).desc())
                .limit(1)
            ).scalar()
            return total, as_utc(first), summary

        total, first, summary = await self.run(work)
        facts = await self.facts(state)
        recent = list(state.recent)[-last:]
        return MemoryView(
            key.character_id, display_name, total, len(state.recent), first, recent, facts, summary
        )

    async def kept(self, state: ConversationState, last: int = 6) -> list[KeptItem]:
        """What the character keeps of this conversation, each with the id /memory forget and pin
        take: current facts, pinned memories, the newest summary and the `last` turns."""

        def work(conn: Connection) -> list[KeptItem]:
            facts = conn.execute(
                _KEPT.where(
                    col(SearchEntry.conversation_id) == state.id,
                    col(SearchEntry.kind) == "fact",
                    col(Fact.superseded_at).is_(None),
                ).order_by(col(SearchEntry.importance).desc(), primary(SearchEntry.id).desc())
            ).all()
            pinned = conn.execute(
                _KEPT.where(
                    col(SearchEntry.conversation_id) == state.id,
                    col(SearchEntry.kind) != "fact",
                    col(SearchEntry.importance) >= PINNED,
                ).order_by(primary(SearchEntry.id))
            ).all()
            newest = conn.execute(
                _KEPT.where(col(SearchEntry.conversation_id) == state.id)
                .where(col(SearchEntry.kind).in_(("turn", "summary")))
                .where(col(SearchEntry.item_id) > state.starts_after)
                .order_by(primary(SearchEntry.id).desc())
                .limit(last)
            ).all()
            rows = {row[0]: row for row in [*facts, *pinned, *reversed(newest)]}
            return _kept_items(conn, list(rows.values()))

        return await self.read(work)

    async def forget_item(self, state: ConversationState, entry_id: int) -> KeptItem | None:
        """Delete one memory of this conversation (a turn, a summary or a fact) and its vector;
        None when the id is not one of this conversation's."""

        def work(conn: Connection) -> KeptItem | None:
            row = conn.execute(
                _KEPT.where(primary(SearchEntry.id) == entry_id, col(SearchEntry.conversation_id) == state.id)
            ).first()
            if row is None:
                return None
            item = _kept_items(conn, [row])[0]
            model = {"turn": Message, "summary": Summary, "fact": Fact}[item.kind]
            conn.execute(delete(MemoryVector).where(col(MemoryVector.entry_id) == entry_id))
            conn.execute(delete(SearchEntry).where(primary(SearchEntry.id) == entry_id))
            if item.kind == "turn":  # facts learned from the message go with it
                learned = (
                    conn.execute(select(primary(Fact.id)).where(col(Fact.source_message_id) == item.item_id))
                    .scalars()
                    .all()
                )
                if learned:
                    gone = select(primary(SearchEntry.id)).where(
                        col(SearchEntry.kind) == "fact", col(SearchEntry.item_id).in_(learned)
                    )
                    conn.execute(delete(MemoryVector).where(col(MemoryVector.entry_id).in_(gone)))
                    conn.execute(
                        delete(SearchEntry).where(
                            col(SearchEntry.kind) == "fact", col(SearchEntry.item_id).in_(learned)
                        )
                    )
                    conn.execute(delete(Fact).where(primary(Fact.id).in_(learned)))
            conn.execute(delete(model).where(primary(model.id) == item.item_id))  # type: ignore[attr-defined]  # each model in the union has an id; mypy sees the union's common base
            return item

        item = await self.run(work)
        if item is not None and item.kind == "turn":
            kept = [m for m in state.recent if m.id != item.item_id]
            if len(kept) != len(state.recent):
                state.recent.clear()
                state.recent.extend(kept)
                if state.key is not None and self._conversations.get(state.key) is state:
                    self._reweigh(state)
        if item is not None and self.vectors is not None:
            self.vectors.forget_cached()
        if item is not None and state.id in self._recalled:
            self._recalled[state.id] = [m for m in self._recalled[state.id] if m.entry_id != entry_id]
        return item

    async def pin_item(self, state: ConversationState, entry_id: int) -> KeptItem | None:
        """Pin one memory of this conversation: it is a candidate in every recall from now on."""

        def work(conn: Connection) -> KeptItem | None:
            done = conn.execute(
                update(SearchEntry)
                .where(primary(SearchEntry.id) == entry_id, col(SearchEntry.conversation_id) == state.id)
                .values(importance=PINNED)
            )
            if not done.rowcount:
                return None
            row = conn.execute(_KEPT.where(primary(SearchEntry.id) == entry_id)).one()
            return _kept_items(conn, [row])[0]

        return await self.run(work)

    async def forget_user(self, platform: str, platform_user_id: str) -> int:
        """Delete everything stored about a person on a platform (anima/memory/forget.py says what,
        docs/privacy.md too). Returns how many messages went.

        It holds the locks of every conversation of theirs (with `locks` set: the runtime's), so a
        message of theirs being answered finishes first and is forgotten with the rest; background
        work queued for their conversations finds them forgotten and writes nothing.
        """
        keys = await self.read(lambda conn: _conversation_keys(conn, platform, platform_user_id))
        if self.locks is not None:
            keys += [
                k
                for k in self.locks.keys()
                if isinstance(k, ConversationKey) and (k.platform, k.user_id) == (platform, platform_user_id)
            ]
            holding: AbstractAsyncContextManager[None] = self.locks.hold_all(keys)
        else:
            holding = nullcontext()
        async with holding:
            deleted, conversation_ids = await self.run(
                lambda conn: forget_person(conn, platform, platform_user_id)
            )
            for forgotten in conversation_ids:
                self._forgotten[forgotten] = next(_OPENINGS)
            for forgotten in conversation_ids:
                self._recalled.pop(forgotten, None)
            for key in [
                k for k in self._conversations if (k.platform, k.user_id) == (platform, platform_user_id)
            ]:
                state = self._conversations.pop(key)
                self._cached_bytes -= state.weight
                state.forgotten = True
                state.unsaved.clear()  # a write retry would store it again
        self._links.clear()
        if self.vectors is not None:
            self.vectors.forget_cached()
        for listener in self.forget_listeners:
            listener(platform, platform_user_id)
        return deleted

    async def _deleted_elsewhere(self, state: ConversationState) -> bool:
        """After a write broke a constraint: whether the conversation is gone (another process forgot
        its person); then it is forgotten here too, its waiting messages dropped."""
        query = select(col(Conversation.id)).where(col(Conversation.id) == state.id)
        try:
            if await self.read(lambda conn: conn.execute(query).first()) is not None:
                return False
        except MemoryStoreError:
            return False
        log.info(
            "conversation %d was forgotten by another process: its late messages are not stored", state.id
        )
        self._forgotten[state.id] = next(_OPENINGS)
        state.forgotten = True
        state.unsaved.clear()
        return True

    def is_forgotten(self, state: ConversationState) -> bool:
        """Whether the conversation's person was forgotten since it was opened: write nothing for it."""
        if state.opened < self._forgotten.get(state.id, 0):
            state.forgotten = True
        return state.forgotten

    async def users(self, platform_user_id: str, platform: str | None = None) -> list[tuple[str, str]]:
        """(platform, user id) pairs stored under this id, on one platform or all."""
        query = select(col(User.platform), col(User.platform_user_id)).where(
            col(User.platform_user_id) == platform_user_id
        )
        if platform is not None:
            query = query.where(col(User.platform) == platform)
        rows = await self.run(lambda conn: conn.execute(query.order_by(col(User.platform))).all())
        return [(p, u) for p, u in rows]

    async def export_user(self, platform: str, platform_user_id: str) -> dict[str, Any] | None:
        """Everything stored about a user, as JSON-ready data (None for an unknown user)."""
        return await self.run(lambda conn: export_user(conn, platform, platform_user_id))

    async def shares_private(self, platform: str, user_id: str) -> bool:
        """Whether what a character learned with this person in private may reach their groups too
        (off unless set with `anima memory share`)."""
        return bool(await self.get_preference(platform, "", SHARE_PRIVATE, user_id))

    async def set_shares_private(self, platform: str, user_id: str, shared: bool) -> None:
        await self.set_preference(platform, "", SHARE_PRIVATE, shared or None, user_id)

    async def get_preference(self, platform: str, chat_id: str, key: str, user_id: str = "") -> Any:
        """A remembered setting (None when unset), e.g. the character bound to a chat."""
        query = select(col(Preference.value)).where(
            col(Preference.platform) == platform,
            col(Preference.chat_id) == chat_id,
            col(Preference.user_id) == user_id,
            col(Preference.key) == key,
        )
        raw = await self.read(lambda conn: conn.execute(query).scalar())
        return None if raw is None else json.loads(raw)

    async def keep_pictures(
        self, state: ConversationState, message_id: int, pictures: Sequence[KeptPicture]
    ) -> None:
        """Keep the pictures sent with stored message `message_id` (a reference and a thumbnail each);
        nothing is kept with a retention of 0, or for a message not stored (id 0: an outage)."""
        if not pictures or not message_id or self.is_forgotten(state) or not self.picture_retention:
            return
        await _keep_pictures_of(self, state, message_id, pictures)

    async def pictures(self, state: ConversationState) -> list[KeptPicture]:
        """The pictures kept in a conversation, oldest first."""

        def work(conn: Connection) -> list[KeptPicture]:
            rows = conn.execute(
                select(
                    col(StoredPicture.reference),
                    col(StoredPicture.sha256),
                    col(StoredPicture.width),
                    col(StoredPicture.height),
                    col(StoredPicture.thumbnail),
                )
                .where(col(StoredPicture.conversation_id) == state.id)
                .order_by(primary(StoredPicture.id))
            ).all()
            return [KeptPicture(*row) for row in rows]

        return await self.run(work)

    async def set_preference(
        self, platform: str, chat_id: str, key: str, value: Any, user_id: str = ""
    ) -> None:
        where = (
            col(Preference.platform) == platform,
            col(Preference.chat_id) == chat_id,
            col(Preference.user_id) == user_id,
            col(Preference.key) == key,
        )

        def work(conn: Connection) -> None:
            conn.execute(delete(Preference).where(*where))
            if value is not None:
                insert_row(
                    conn,
                    Preference,
                    platform=platform,
                    chat_id=chat_id,
                    user_id=user_id,
                    key=key,
                    value=json.dumps(value),
                    updated_at=utcnow(),
                )

        await self.run(work)


async def _keep_pictures_of(
    store: MemoryStore, state: ConversationState, message_id: int, pictures: Sequence[KeptPicture]
) -> None:
    """Pictures kept with a stored message, and those past the retention deleted (by the indexed
    created_at), in one transaction."""
    now = utcnow()
    cutoff = now - store.picture_retention

    def work(conn: Connection) -> None:
        conn.execute(delete(StoredPicture).where(col(StoredPicture.created_at) < cutoff))
        for picture in pictures:
            insert_row(
                conn,
                StoredPicture,
                conversation_id=state.id,
                message_id=message_id,
                **asdict(picture),
                created_at=now,
            )

    await store.run(work)


def _conversation_keys(conn: Connection, platform: str, user_id: str) -> list[ConversationKey]:
    rows = conn.execute(
        select(col(Conversation.chat_id), col(Conversation.character_id))
        .join(User, primary(User.id) == col(Conversation.user_id))
        .where(col(User.platform) == platform, col(User.platform_user_id) == user_id)
    ).all()
    return [ConversationKey(platform, chat_id, user_id, character_id) for chat_id, character_id in rows]


def _written_elsewhere(conn: Connection, state: ConversationState) -> bool:
    """Whether the stored conversation moved on from the cached copy (another process added or reset)."""
    newest = (
        select(func.max(primary(Message.id)))
        .where(col(Message.conversation_id) == primary(Conversation.id))
        .scalar_subquery()
    )
    row = conn.execute(
        select(col(Conversation.history_starts_after), newest).where(primary(Conversation.id) == state.id)
    ).first()
    cached = state.recent[-1].id if state.recent else state.starts_after
    return row is None or row[0] != state.starts_after or (row[1] or 0) != cached


def _user_id(conn: Connection, platform: str, platform_user_id: str, display_name: str) -> int:
    display_name = storable_text(display_name)
    where = (col(User.platform) == platform, col(User.platform_user_id) == platform_user_id)
    row = conn.execute(select(primary(User.id), col(User.display_name)).where(*where)).first()
    if row is None:
        values = {"platform": platform, "platform_user_id": platform_user_id, "display_name": display_name}
        try:
            # Another process may add the same person at the same moment (their messages in two chats
            # served by two processes): then the insert fails alone, and their row is read back.
            with conn.begin_nested():
                result = insert_row(conn, User, **values, created_at=utcnow())
            return inserted_id(result)
        except IntegrityError:
            row = conn.execute(select(primary(User.id), col(User.display_name)).where(*where)).one()
    if row[1] != display_name:
        conn.execute(update(User).where(primary(User.id) == row[0]).values(display_name=display_name))
    return row[0]


def _database_error(exc: BaseException) -> str:
    """The driver's own words ("database is locked"), without SQL or parameters (they hold user text)."""
    original = getattr(exc, "orig", None) or exc
    return (str(original).strip().splitlines() or [type(original).__name__])[0]


def _insert_turn_once(conn: Connection, row: dict[str, Any]) -> int:
    """A retried write: the try that failed may have committed before its connection dropped
    (PostgreSQL), so a message already there is not stored twice."""
    stored = conn.execute(
        select(primary(Message.id)).where(
            col(Message.conversation_id) == row["conversation_id"],
            col(Message.created_at) == row["created_at"],
            col(Message.role) == row["role"],
            col(Message.content) == row["content"],
        )
    ).scalar()
    return stored or _insert_turn(conn, row)


def _insert_turn(conn: Connection, row: dict[str, Any]) -> int:
    """Store a message and its search entry, and add it to the context of the turn before it. On
    PostgreSQL that is one statement (data-modifying CTEs), one round trip instead of three."""
    message = {k: v for k, v in row.items() if k not in ("context", "previous")}
    body = index_text(row["content"], conn.dialect.name, row["conversation_id"])
    context = index_text(row["context"], conn.dialect.name, row["conversation_id"])
    importance = TURN_IMPORTANCE.get(row["role"], 0.3)
    if conn.dialect.name == "postgresql":
        values = message | {"body": body, "context": context, "importance": importance}
        stored = conn.execute(_INSERT_TURN_POSTGRES, values | {"next": body, "previous": row["previous"]})
        return int(stored.scalar_one())
    message_id: int = inserted_id(conn.execute(_INSERT_MESSAGE, message))
    if row.get("previous"):  # a turn's context is the turns around it: the next one arrives now
        conn.execute(_APPEND_CONTEXT, {"next": body, "previous": row["previous"]})
    conn.execute(
        _INSERT_ENTRY,
        {
            "conversation_id": row["conversation_id"],
            "kind": "turn",
            "item_id": message_id,
            "role": row["role"],
            "body": body,
            "context": context,
            "importance": importance,
            "created_at": row["created_at"],
        },
    )
    return message_id


def _insert_turn_postgres() -> TextClause:
    """_insert_turn's three statements as one: the message, the previous turn's context, the entry."""
    moment = table_of(Message).c.created_at.type  # timestamptz, as the model binds it
    return text(
        "WITH new_message AS ("
        " INSERT INTO messages (conversation_id, role, content, platform_message_id, cut, created_at)"
        " VALUES (:conversation_id, :role, :content, :platform_message_id, :cut, :created_at) RETURNING id"
        "), previous_turn AS ("
        " UPDATE search_entries SET context = context || ' ' || :next"
        " WHERE kind = 'turn' AND item_id = :previous"
        ") INSERT INTO search_entries"
        " (conversation_id, kind, item_id, role, body, context, importance, created_at)"
        " SELECT :conversation_id, 'turn', id, :role, :body, :context, :importance, :created_at"
        " FROM new_message RETURNING item_id"
    ).bindparams(
        bindparam("conversation_id", type_=Integer),
        bindparam("role", type_=String),
        bindparam("content", type_=String),
        bindparam("platform_message_id", type_=String),
        bindparam("cut", type_=Boolean),
        bindparam("created_at", type_=moment),
        bindparam("next", type_=String),
        bindparam("previous", type_=Integer),
        bindparam("body", type_=String),
        bindparam("context", type_=String),
        bindparam("importance", type_=Float),
    )


_INSERT_TURN_POSTGRES = _insert_turn_postgres()


@dataclass(frozen=True)
class KeptItem:
    """One memory as /memory lists it: `entry_id` is the number forget and pin take."""

    entry_id: int
    kind: str  # "turn" | "summary" | "fact"
    item_id: int  # the message, summary or fact
    content: str
    when: datetime
    role: str
    pinned: bool


_KEPT = select(*HIT_COLUMNS).outerjoin(
    Fact, (col(SearchEntry.kind) == "fact") & (primary(Fact.id) == col(SearchEntry.item_id))
)


def _kept_items(conn: Connection, rows: Sequence[Any]) -> list[KeptItem]:
    contents: dict[tuple[str, int], str] = {}
    for kind, model in (("turn", Message), ("summary", Summary), ("fact", Fact)):
        wanted = [row[2] for row in rows if row[1] == kind]
        if wanted:
            found = conn.execute(
                select(primary(model.id), col(model.content)).where(primary(model.id).in_(wanted))
            )
            contents |= {(kind, item): content for item, content in found}
    return [
        KeptItem(entry, kind, item, contents.get((kind, item), ""), as_utc(at), role, importance >= PINNED)
        for entry, kind, item, role, importance, at in rows
    ]


def _index(
    conn: Connection,
    conversation_id: int,
    kind: str,
    item_id: int,
    text: str,
    importance: float,
    at: datetime,
) -> None:
    conn.execute(
        _INSERT_ENTRY,
        {
            "conversation_id": conversation_id,
            "kind": kind,
            "item_id": item_id,
            "role": "",
            "body": index_text(text, conn.dialect.name, conversation_id),
            "context": "",
            "importance": importance,
            "created_at": at,
        },
    )


def _store_fact(
    conn: Connection,
    conversation_id: int,
    fact: FactCandidate,
    source: str,
    source_message_id: int | None,
    now: datetime,
) -> bool:
    current = conn.execute(
        select(primary(Fact.id), col(Fact.content)).where(
            col(Fact.conversation_id) == conversation_id,
            col(Fact.topic) == fact.topic,
            col(Fact.superseded_at).is_(None),
        )
    ).all()
    if any(content.lower() == fact.content.lower() for _, content in current):
        return False
    if fact.topic in SINGLE_VALUED and current:
        old = [fact_id for fact_id, _ in current]
        conn.execute(update(Fact).where(primary(Fact.id).in_(old)).values(superseded_at=now))
        conn.execute(
            delete(SearchEntry).where(col(SearchEntry.kind) == "fact", col(SearchEntry.item_id).in_(old))
        )
    fact_id = inserted_id(
        insert_row(
            conn,
            Fact,
            conversation_id=conversation_id,
            topic=fact.topic,
            content=fact.content,
            importance=fact.importance,
            happened_at=fact.happened_at,
            source=source,
            source_message_id=source_message_id,
            created_at=now,
        )
    )
    searchable = f"{fact.topic} {fact.content}" + (
        f" {fact.happened_at:%d %B %Y}" if fact.happened_at else ""
    )
    _index(conn, conversation_id, "fact", fact_id, searchable, fact.importance, now)
    return True
