"""A fake Discord on 127.0.0.1: the REST API and the gateway websocket, enough for discord.py 2.x unmodified.

The bot is pointed at it through `api_base` (REST) and the gateway URL that `GET /gateway/bot` returns.
Tests build a small world (guilds, channels, threads, users), make people speak (`say`), run slash
commands (`slash`) and press buttons (`press`), inject faults (`fail_next`, `drop_gateway`), and read
back every request the bot made (`calls`) and every message it left in a channel (`bot_messages`).

Files: people's messages may carry attachments, served from 127.0.0.1 as Discord's CDN serves them
(`downloads` lists what the bot fetched). Files the bot uploads (multipart `files[n]`) are kept with
their bytes (`file_bytes`); voice messages (flag IS_VOICE_MESSAGE) are checked as Discord checks them:
the SEND_VOICE_MESSAGES permission, one audio file, its duration and waveform, no text.

Gateway protocol (see discord.py's gateway.py): HELLO → the client heartbeats and IDENTIFYs → READY
then one GUILD_CREATE per guild; every DISPATCH carries a sequence number; after a dropped connection
the client RESUMEs with its session id and last sequence and gets the missed events, then RESUMED.
Payloads go out zlib-compressed (`compress=zlib-stream`, one shared stream per connection, each
message ending in a Z_SYNC_FLUSH) when the client asks for it, plain JSON text otherwise.

Channel history (`GET /channels/{id}/messages` with `after`, `before`, `limit`) pages as Discord does.
Shards: each IDENTIFY names its shard; a server's events go to the session of the shard its id maps
to, direct messages to shard 0's, and an event sent while no session of its shard is connected is
only in history (a new process identifies afresh; Discord resumes only live sessions). `hold` keeps
requests waiting, to kill a bot while its replies are in flight.

Requests to routes the fake does not know answer 404 and are kept in `unknown`: a test that sees
any there is testing less than it thinks.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import mimetypes
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

DISCORD_EPOCH_MS = 1420070400000
# How long a wait for the bot may last: a guard against a hang, not a speed test (a loaded 2-core CI
# machine can take tens of seconds); a wait ends as soon as its condition holds.
HANG_GUARD_S = 60.0
API_PREFIX = "/api/v10"

# Permission bits (https://discord.com/developers/docs/topics/permissions)
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
READ_MESSAGE_HISTORY = 1 << 16
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
MANAGE_WEBHOOKS = 1 << 29
SEND_MESSAGES_IN_THREADS = 1 << 38
ATTACH_FILES = 1 << 15
SEND_VOICE_MESSAGES = 1 << 46
BOT_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | READ_MESSAGE_HISTORY
    | SEND_MESSAGES_IN_THREADS
    | MANAGE_WEBHOOKS
    | ATTACH_FILES
    | SEND_VOICE_MESSAGES
)
MEMBER_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY | SEND_MESSAGES_IN_THREADS

# Gateway opcodes
DISPATCH = 0
HEARTBEAT = 1
IDENTIFY = 2
RESUME = 6
INVALID_SESSION = 9
HELLO = 10
HEARTBEAT_ACK = 11

CHANNEL_TEXT, CHANNEL_DM, CHANNEL_PUBLIC_THREAD = 0, 1, 11
MESSAGE_DEFAULT, MESSAGE_REPLY = 0, 19
EPHEMERAL = 1 << 6
IS_VOICE_MESSAGE = 1 << 13
WEBHOOK_FLAGS = (1 << 2) | (1 << 12) | (1 << 15)  # what Execute Webhook may set: no voice messages
MAX_UPLOAD_BYTES = 32 * 1024 * 1024
# Python's own table lacks .ogg; the host's /etc/mime.types may not have it either.
mimetypes.add_type("audio/ogg", ".ogg")


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response typed exactly `application/json`: discord.py reads anything else as text."""
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers=headers, content_type="application/json"
    )


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


@dataclass
class Upload:
    """One file part of a multipart request, as the bot sent it."""

    field: str  # "files[0]"
    filename: str
    content_type: str
    data: bytes


def _content_type(upload: Upload) -> str:
    """The part's type, or (for discord.py's application/octet-stream) the one its name implies."""
    if upload.content_type and upload.content_type != "application/octet-stream":
        return upload.content_type
    return mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"


@dataclass
class Call:
    """One REST request the bot made."""

    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    body: Any  # the JSON body (or the payload_json of a multipart body), None when empty
    at: float = field(default_factory=time.monotonic)
    status: int = 200
    files: list[Upload] = field(default_factory=list)  # the file parts of a multipart body


CALL = web.RequestKey("call", Call)


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    retry_after: float
    is_global: bool
    code: int = 0


@dataclass
class Session:
    id: str
    events: list[dict[str, Any]] = field(default_factory=list)  # every dispatch, for RESUME
    socket: web.WebSocketResponse | None = None
    compressor: Any = None
    shard: tuple[int, int] = (0, 1)  # (shard id, shard count) from IDENTIFY

    def serves(self, data: dict[str, Any]) -> bool:
        """Discord's routing: a server's events go to shard (guild_id >> 22) % count, DMs to shard 0."""
        shard_id, count = self.shard
        guild_id = data.get("guild_id") if isinstance(data, dict) else None
        return (int(guild_id) >> 22) % count == shard_id if guild_id else shard_id == 0


class FakeDiscord:
    """One bot application's view of Discord. Start with `await FakeDiscord().start()`."""

    def __init__(self, bot_name: str = "Aiko", token: str = "fake-token") -> None:
        self.token = token
        self._ids = itertools.count(1)
        self.bot = self.user(bot_name, bot=True)
        self.application_id = self.bot["id"]  # Discord gives a bot's user the application's id
        self.owner = self.user("Owner")
        self.calls: list[Call] = []
        self.unknown: list[Call] = []
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats = 0
        self.commands: list[dict[str, Any]] = []
        self.guilds: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, Any]] = {}  # id → the message as it is now
        self.edits: dict[str, list[float]] = {}  # message id → when each edit came
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.interaction_responses: dict[str, dict[str, Any]] = {}  # interaction id → callback body
        self.interactions: dict[str, dict[str, Any]] = {}
        self.faults: list[Fault] = []
        self.files: dict[str, bytes] = {}  # attachment id → the bytes behind its url
        self.downloads: list[str] = []  # attachment ids the bot fetched
        self.close_on_identify: int | None = None  # e.g. 4014: "disallowed intents" (Message Content off)
        self.after_ready: list[dict[str, Any]] = []  # MESSAGE_CREATEs sent right behind READY
        self.sessions: dict[str, Session] = {}
        self.history_reads: list[str] = []  # channels whose history the bot read
        self.held: list[tuple[str, re.Pattern[str], asyncio.Event]] = []  # see hold()
        # As on Discord, what the bot and its webhooks post comes back to it as MESSAGE_CREATE (off by
        # default: most tests count the gateway's events), and other bots may answer it (`add_chatty_bot`).
        self.echo = False
        self.chatty_bots: list[dict[str, Any]] = []
        self._avatars: dict[str, bytes] = {}  # avatar hash → the picture
        self._posting: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application(middlewares=[self._record], client_max_size=MAX_UPLOAD_BYTES)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._download)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        for task in list(self._posting):
            task.cancel()
        for session in self.sessions.values():
            if session.socket is not None and not session.socket.closed:
                await session.socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- the world -------------------------------------------------------------------------

    def snowflake(self) -> str:
        millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return str((millis << 22) | (next(self._ids) & 0x3FFFFF))

    def user(self, name: str, *, bot: bool = False) -> dict[str, Any]:
        return {
            "id": self.snowflake(),
            "username": name.lower(),
            "global_name": name,
            "discriminator": "0",
            "avatar": None,
            "bot": bot,
        }

    def add_guild(self, name: str = "Tavern", *, bot_permissions: int = BOT_PERMISSIONS) -> str:
        guild_id = self.snowflake()
        bot_role = self.snowflake()
        self.guilds[guild_id] = {
            "id": guild_id,
            "name": name,
            "icon": None,
            "owner_id": self.owner["id"],
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "features": [],
            "mfa_level": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "system_channel_id": None,
            "roles": [
                self._role(guild_id, "@everyone", MEMBER_PERMISSIONS, 0),
                self._role(bot_role, self.bot["global_name"], bot_permissions, 1, bot_id=self.bot["id"]),
            ],
            "emojis": [],
            "stickers": [],
            "members": [self._member(self.bot, roles=[bot_role])],
            "member_count": 2,
            "large": False,
            "unavailable": False,
            "channels": [],
            "threads": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "joined_at": _now_iso(),
        }
        return guild_id

    def _role(
        self, role_id: str, name: str, permissions: int, position: int, bot_id: str = ""
    ) -> dict[str, Any]:
        role: dict[str, Any] = {
            "id": role_id,
            "name": name,
            "permissions": str(permissions),
            "position": position,
            "color": 0,
            "hoist": False,
            "managed": bool(bot_id),
            "mentionable": False,
            "flags": 0,
        }
        if bot_id:
            role["tags"] = {"bot_id": bot_id}
        return role

    def _member(self, user: dict[str, Any], roles: list[str] | None = None) -> dict[str, Any]:
        return {
            "user": user,
            "roles": roles or [],
            "joined_at": _now_iso(),
            "deaf": False,
            "mute": False,
            "flags": 0,
        }

    def add_channel(self, guild_id: str, name: str = "general") -> str:
        channel = {
            "id": self.snowflake(),
            "type": CHANNEL_TEXT,
            "guild_id": guild_id,
            "name": name,
            "position": len(self.guilds[guild_id]["channels"]),
            "permission_overwrites": [],
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
        }
        self.guilds[guild_id]["channels"].append(channel)
        self.channels[channel["id"]] = channel
        return channel["id"]

    def add_thread(self, parent_id: str, name: str = "a thread") -> str:
        parent = self.channels[parent_id]
        thread = {
            "id": self.snowflake(),
            "type": CHANNEL_PUBLIC_THREAD,
            "guild_id": parent["guild_id"],
            "parent_id": parent_id,
            "name": name,
            "owner_id": self.owner["id"],
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": _now_iso(),
                "locked": False,
            },
        }
        self.guilds[parent["guild_id"]]["threads"].append(thread)
        self.channels[thread["id"]] = thread
        return thread["id"]

    def dm_channel(self, user: dict[str, Any]) -> str:
        channel = {"id": self.snowflake(), "type": CHANNEL_DM, "recipients": [user], "last_message_id": None}
        self.channels[channel["id"]] = channel
        return channel["id"]

    # -- people act ------------------------------------------------------------------------

    def say_at_connect(self, channel_id: str, author: dict[str, Any], content: str) -> dict[str, Any]:
        """A message the bot receives right behind READY, before it can have finished starting."""
        message = self._message(channel_id, author, content)
        self.messages[message["id"]] = message
        self.after_ready.append(message)
        return message

    async def say(
        self,
        channel_id: str,
        author: dict[str, Any],
        content: str,
        *,
        mention_bot: bool = False,
        reply_to: str | None = None,
        message_type: int | None = None,
        webhook_id: str | None = None,
        files: list[tuple[str, bytes]] | None = None,
        voice_duration_s: float | None = None,
    ) -> dict[str, Any]:
        """A person (or another bot) posts a message, with `files` as (name, bytes) attachments; the
        bot receives MESSAGE_CREATE. With `voice_duration_s` it is a voice message, as Discord's
        clients send one: flag IS_VOICE_MESSAGE, no text, one audio/ogg file with its duration and
        waveform."""
        mentions = []
        if mention_bot:
            content = f"<@{self.bot['id']}> {content}"
            mentions.append(self.bot)
        flags = IS_VOICE_MESSAGE if voice_duration_s is not None else 0
        message = self._message(
            channel_id, author, content, mentions=mentions, webhook_id=webhook_id, flags=flags
        )
        message["attachments"] = [self._attachment(channel_id, name, data) for name, data in files or []]
        if voice_duration_s is not None:
            for attachment in message["attachments"]:
                attachment |= {"content_type": "audio/ogg", "duration_secs": voice_duration_s,
                               "waveform": "AAAA"}  # fmt: skip
        if reply_to is not None:
            referenced = self.messages[reply_to]
            message["type"] = MESSAGE_REPLY
            message["message_reference"] = {"type": 0, "message_id": reply_to, "channel_id": channel_id}
            if "guild_id" in message:
                message["message_reference"]["guild_id"] = message["guild_id"]
            message["referenced_message"] = referenced
        if message_type is not None:
            message["type"] = message_type
        self.messages[message["id"]] = message
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    def _message(
        self,
        channel_id: str,
        author: dict[str, Any],
        content: str,
        *,
        mentions: list[dict[str, Any]] | None = None,
        webhook_id: str | None = None,
        flags: int = 0,
    ) -> dict[str, Any]:
        channel = self.channels.get(channel_id, {})
        message: dict[str, Any] = {
            "id": self.snowflake(),
            "channel_id": channel_id,
            "author": author,
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": mentions or [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "components": [],
            "pinned": False,
            "type": MESSAGE_DEFAULT,
            "flags": flags,
        }
        if channel.get("guild_id"):
            message["guild_id"] = channel["guild_id"]
            if webhook_id is None:
                message["member"] = {k: v for k, v in self._member(author).items() if k != "user"}
        if webhook_id is not None:
            message["webhook_id"] = webhook_id
        return message

    async def slash(
        self,
        channel_id: str,
        user: dict[str, Any],
        command: str,
        options: dict[str, Any] | None = None,
        *,
        permissions: int = MEMBER_PERMISSIONS,
    ) -> str:
        """A person runs `/command` (a space separates a subcommand: "character set"); returns its id.
        An option given as (filename, bytes) is an attachment option, uploaded as Discord would."""
        name, _, sub = command.partition(" ")
        registered = next((c for c in self.commands if c["name"] == name), None)
        if registered is None:
            raise AssertionError(
                f"/{name} was never registered; registered: {[c['name'] for c in self.commands]}"
            )
        attachments = {
            k: self._attachment(channel_id, *v) for k, v in (options or {}).items() if isinstance(v, tuple)
        }
        values = [
            {"name": k, "type": 11, "value": attachments[k]["id"]}
            if k in attachments
            else {"name": k, "type": 5 if isinstance(v, bool) else 4 if isinstance(v, int) else 3, "value": v}
            for k, v in (options or {}).items()
        ]
        data: dict[str, Any] = {"id": registered["id"], "name": name, "type": 1}
        if attachments:
            data["resolved"] = {"attachments": {a["id"]: a for a in attachments.values()}}
        data["options"] = [{"name": sub, "type": 1, "options": values}] if sub else values
        return await self._interact(channel_id, user, 2, data, permissions=permissions)

    async def press(self, interaction_id: str, label: str, user: dict[str, Any]) -> str:
        """A person presses the button labelled `label` on the reply to interaction `interaction_id`."""
        response = self.interaction_responses[interaction_id]
        message = response["message"]
        button = next(
            (b for row in message["components"] for b in row["components"] if b.get("label") == label), None
        )
        if button is None:
            raise AssertionError(f"no button {label!r} on {message['content']!r}")
        data = {"custom_id": button["custom_id"], "component_type": 2}
        source = self.interactions[interaction_id]
        return await self._interact(
            source["channel_id"], user, 3, data, message=message, permissions=int(source["_permissions"])
        )

    async def _interact(
        self,
        channel_id: str,
        user: dict[str, Any],
        kind: int,
        data: dict[str, Any],
        *,
        permissions: int,
        message: dict[str, Any] | None = None,
    ) -> str:
        channel = self.channels[channel_id]
        interaction: dict[str, Any] = {
            "id": self.snowflake(),
            "application_id": self.application_id,
            "type": kind,
            "data": data,
            "token": f"itoken-{next(self._ids)}",
            "version": 1,
            "channel_id": channel_id,
            "channel": {k: v for k, v in channel.items() if k != "recipients"},
            "locale": "en-US",
            "app_permissions": str(BOT_PERMISSIONS),
            "entitlements": [],
            "authorizing_integration_owners": {"0": channel.get("guild_id") or user["id"]},
            "attachment_size_limit": 8 * 1024 * 1024,
        }
        if channel.get("guild_id"):
            interaction["guild_id"] = channel["guild_id"]
            interaction["guild_locale"] = "en-US"
            interaction["context"] = 0
            member = self._member(user)
            member["permissions"] = str(permissions)
            interaction["member"] = member
        else:
            interaction["user"] = user
            interaction["context"] = 1
        if message is not None:
            interaction["message"] = message
        self.interactions[interaction["id"]] = interaction | {"_permissions": permissions}
        await self.dispatch("INTERACTION_CREATE", interaction)
        return interaction["id"]

    # -- faults ----------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path: str,
        *,
        status: int = 429,
        times: int = 1,
        retry_after: float = 0.05,
        is_global: bool = False,
        code: int = 0,
    ) -> None:
        """The next `times` requests matching `method` and the regex `path` fail (429: rate limited),
        others with Discord's JSON error `code`."""
        self.faults.append(Fault(method, re.compile(path), status, times, retry_after, is_global, code))

    def hold(self, method: str, path: str) -> None:
        """Requests matching `method` and the regex `path` wait, unanswered and not acted on, until
        `release()`; those whose client is gone by then (killed) never happened."""
        self.held.append((method, re.compile(path), asyncio.Event()))

    def release(self) -> None:
        for _, _, event in self.held:
            event.set()
        self.held = []

    async def drop_gateway(self) -> None:
        """Close every gateway connection abnormally, as a network fault would; sessions stay resumable."""
        for session in self.sessions.values():
            if session.socket is not None and not session.socket.closed:
                socket, session.socket = session.socket, None
                await socket.close(code=4000, message=b"dropped by the test")

    # -- observing -------------------------------------------------------------------------

    async def wait_until(self, condition: Callable[[], Any], within_s: float = HANG_GUARD_S) -> Any:
        """Wait (bounded) until `condition()` is truthy after some request or event; return its value."""
        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(condition)
        return condition()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def bot_messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Messages the bot (or its webhooks) posted in a channel, oldest first, as they are now."""
        return [
            m
            for m in self.messages.values()
            if m["channel_id"] == channel_id
            and (m["author"]["id"] == self.bot["id"] or m.get("webhook_id"))
            and not m.get("_interaction")
        ]

    def calls_to(self, method: str, path_regex: str) -> list[Call]:
        pattern = re.compile(path_regex)
        return [c for c in self.calls if c.method == method and pattern.fullmatch(c.path)]

    def sent_bodies(self) -> list[Any]:
        """The bodies of every request that posts or edits a message, webhook and interaction replies too."""
        message_routes = re.compile(
            r"/channels/\d+/messages(/\d+)?|/webhooks/\d+/[^/]+(/messages/.+)?|/interactions/\d+/[^/]+/callback"
        )
        return [
            c.body
            for c in self.calls
            if c.method in ("POST", "PATCH") and message_routes.fullmatch(c.path) and c.body is not None
        ]

    # -- gateway ---------------------------------------------------------------------------

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to every session of the shard it belongs to (kept for a RESUME when its
        connection is down). A session that ended with its process is never resumed: an event sent
        while no bot runs reaches nobody, as on Discord, and only channel history has it."""
        for session in self.sessions.values():
            if not session.serves(data):
                continue
            payload = {"op": DISPATCH, "t": event, "s": len(session.events) + 1, "d": data}
            session.events.append(payload)
            if session.socket is not None and not session.socket.closed:
                await self._send(session, payload)

    async def _send(self, session: Session, payload: dict[str, Any]) -> None:
        assert session.socket is not None
        raw = json.dumps(payload).encode()
        if session.compressor is not None:
            await session.socket.send_bytes(
                session.compressor.compress(raw) + session.compressor.flush(zlib.Z_SYNC_FLUSH)
            )
        else:
            await session.socket.send_str(raw.decode())

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        compressor = zlib.compressobj() if request.query.get("compress") == "zlib-stream" else None
        connection = Session(id="", socket=socket, compressor=compressor)  # until IDENTIFY or RESUME
        await self._send(connection, {"op": HELLO, "d": {"heartbeat_interval": 41250}})
        session: Session | None = None
        async for frame in socket:
            if frame.type is not WSMsgType.TEXT:
                break
            message = json.loads(frame.data)
            op = message["op"]
            if op == HEARTBEAT:
                self.heartbeats += 1
                await self._send(session or connection, {"op": HEARTBEAT_ACK})
            elif op == IDENTIFY:
                self.identifies.append(message["d"])
                if self.close_on_identify is not None:
                    await socket.close(code=self.close_on_identify, message=b"refused by the test")
                    break
                session = Session(id=f"session-{next(self._ids)}", socket=socket, compressor=compressor)
                session.shard = tuple(message["d"].get("shard") or (0, 1))  # type: ignore[assignment]
                self.sessions[session.id] = session
                await self._ready(session, message["d"])
            elif op == RESUME:
                self.resumes.append(message["d"])
                session = self.sessions.get(message["d"]["session_id"])
                if session is None:
                    await self._send(connection, {"op": INVALID_SESSION, "d": False})
                    continue
                session.socket, session.compressor = socket, compressor
                for payload in session.events[message["d"]["seq"] or 0 :]:
                    await self._send(session, payload)
                await self.dispatch_to(session, "RESUMED", {})
            await self._notify()
        return socket

    async def dispatch_to(self, session: Session, event: str, data: dict[str, Any]) -> None:
        payload = {"op": DISPATCH, "t": event, "s": len(session.events) + 1, "d": data}
        session.events.append(payload)
        await self._send(session, payload)

    async def _ready(self, session: Session, identify: dict[str, Any]) -> None:
        shard = identify.get("shard", [0, 1])
        guilds = [g for g in self.guilds.values() if session.serves({"guild_id": g["id"]})]
        await self.dispatch_to(
            session,
            "READY",
            {
                "v": 10,
                "user": self.bot,
                "guilds": [{"id": g["id"], "unavailable": True} for g in guilds],
                "session_id": session.id,
                "resume_gateway_url": self.gateway_url,
                "shard": shard,
                "application": {"id": self.application_id, "flags": 1 << 19},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "user_settings": {},
                "geo_ordered_rtc_regions": [],
            },
        )
        for guild in guilds:
            await self.dispatch_to(session, "GUILD_CREATE", guild)
        for message in self.after_ready:
            if session.serves(message):
                await self.dispatch_to(session, "MESSAGE_CREATE", message)

    # -- REST ------------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        body: Any = None
        files: list[Upload] = []
        if request.can_read_body:
            if request.content_type.startswith("multipart/"):
                form = await request.post()
                raw = form.get("payload_json")
                body = json.loads(str(raw)) if raw is not None else None
                files = [
                    Upload(name, part.filename, part.content_type, part.file.read())
                    for name, part in form.items()
                    if isinstance(part, web.FileField)
                ]
            else:
                text = await request.text()
                body = json.loads(text) if text else None
        call = Call(request.method, request.path.removeprefix(API_PREFIX), dict(request.query), body)
        call.files = files
        self.calls.append(call)
        request[CALL] = call
        held = next((e for m, p, e in self.held if m == call.method and p.fullmatch(call.path)), None)
        if held is not None:
            await held.wait()
            if request.transport is None or request.transport.is_closing():
                call.status = 499  # the client went away (killed): nothing was done
                return web.Response(status=499)
        fault = next(
            (
                f
                for f in self.faults
                if f.times > 0 and f.method == call.method and f.path.fullmatch(call.path)
            ),
            None,
        )
        if fault is not None:
            fault.times -= 1
            call.status = fault.status
            await self._notify()
            if fault.status == 429:
                return _json(
                    {
                        "message": "You are being rate limited.",
                        "retry_after": fault.retry_after,
                        "global": fault.is_global,
                    },
                    status=429,
                    headers={
                        "Via": "1.1 google",
                        "Retry-After": str(fault.retry_after),
                        "X-RateLimit-Scope": "user",
                    },
                )
            return _error(fault.status, fault.code, "injected failure")
        response = await handler(request)
        call.status = response.status
        await self._notify()
        return response

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        call = request[CALL]
        # Webhook and interaction routes authenticate with the token in their path, the rest with the bot's.
        if not call.path.startswith(("/webhooks/", "/interactions/")):
            if request.headers.get("Authorization") != f"Bot {self.token}":
                return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        for method, pattern, handler in self._routes():
            if method == call.method and (match := re.fullmatch(pattern, call.path)):
                return await handler(call, *match.groups())
        self.unknown.append(call)
        return _json({"message": f"404: unknown route {call.method} {call.path}", "code": 0}, status=404)

    def _routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", r"/users/@me", self._me),
            ("GET", r"/oauth2/applications/@me", self._application),
            ("GET", r"/gateway/bot", self._gateway_bot),
            ("PUT", r"/applications/(\d+)/commands", self._put_commands),
            ("GET", r"/applications/(\d+)/commands", self._get_commands),
            ("POST", r"/channels/(\d+)/messages", self._create_message),
            ("PATCH", r"/channels/(\d+)/messages/(\d+)", self._edit_message),
            ("DELETE", r"/channels/(\d+)/messages/(\d+)", self._delete_message),
            ("GET", r"/channels/(\d+)/messages/(\d+)", self._get_message),
            ("GET", r"/channels/(\d+)/messages", self._history),
            ("GET", r"/channels/(\d+)", self._get_channel),
            ("POST", r"/channels/(\d+)/typing", self._typing),
            ("GET", r"/channels/(\d+)/webhooks", self._list_webhooks),
            ("POST", r"/channels/(\d+)/webhooks", self._create_webhook),
            ("POST", r"/webhooks/(\d+)/([^/]+)", self._execute_webhook),
            ("PATCH", r"/webhooks/(\d+)/([^/]+)/messages/(\d+|@original)", self._edit_webhook_message),
            ("POST", r"/interactions/(\d+)/([^/]+)/callback", self._interaction_callback),
        ]

    async def _me(self, call: Call) -> web.Response:
        return _json(self.bot)

    async def _application(self, call: Call) -> web.Response:
        return _json(
            {
                "id": self.application_id,
                "name": self.bot["global_name"],
                "icon": None,
                "description": "",
                "rpc_origins": [],
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.owner,
                "summary": "",
                "verify_key": "0" * 64,
                "team": None,
                "flags": 1 << 19,
                "bot": self.bot,
            }
        )

    async def _gateway_bot(self, call: Call) -> web.Response:
        return _json(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    async def _put_commands(self, call: Call, application_id: str) -> web.Response:
        self.commands = [
            {
                "id": self.snowflake(),
                "application_id": application_id,
                "version": self.snowflake(),
                "type": 1,
                "default_member_permissions": None,
                "dm_permission": True,
                "nsfw": False,
                "options": [],
                **command,
            }
            for command in call.body
        ]
        return _json(self.commands)

    async def _get_commands(self, call: Call, application_id: str) -> web.Response:
        return _json(self.commands)

    def _bot_message(
        self,
        channel_id: str,
        body: dict[str, Any],
        author: dict[str, Any] | None = None,
        files: list[Upload] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        message = self._message(channel_id, author or self.bot, body.get("content") or "", **extra)
        message.pop("member", None)
        message["components"] = body.get("components") or []
        message["embeds"] = body.get("embeds") or []
        message["attachments"] = self._uploaded(channel_id, body, files or [])
        reference = body.get("message_reference")
        if reference:
            # Discord sends ids as strings, whatever type the client sent them as.
            reference = {k: str(v) if k.endswith("_id") else v for k, v in reference.items()}
            message["type"] = MESSAGE_REPLY
            message["message_reference"] = reference
            message["referenced_message"] = self.messages.get(str(reference["message_id"]))
        self.messages[message["id"]] = message
        return message

    async def _create_message(self, call: Call, channel_id: str) -> web.Response:
        if channel_id not in self.channels:
            return _json({"message": "Unknown Channel", "code": 10003}, status=404)
        body = call.body or {}
        flags = body.get("flags", 0)
        if flags & IS_VOICE_MESSAGE and (refusal := self._refuse_voice_message(channel_id, body, call.files)):
            return refusal
        return _json(self._posted(self._bot_message(channel_id, body, files=call.files, flags=flags)))

    def _refuse_voice_message(
        self, channel_id: str, body: dict[str, Any], files: list[Upload]
    ) -> web.Response | None:
        """Discord's checks of a voice message, in its error codes; None when it is accepted."""
        guild_id = self.channels[channel_id].get("guild_id")
        if guild_id and not self.bot_permissions(guild_id) & SEND_VOICE_MESSAGES:
            return _error(403, 50013, "Missing Permissions")
        if body.get("content") or body.get("embeds") or body.get("sticker_ids"):
            return _error(400, 50159, "Voice messages do not support additional content.")
        metadata = body.get("attachments") or []
        if len(files) != 1 or len(metadata) != 1 or not _content_type(files[0]).startswith("audio/"):
            return _error(400, 50160, "Voice messages must have a single audio attachment.")
        if not isinstance(metadata[0].get("duration_secs"), int | float) or not metadata[0].get("waveform"):
            return _error(400, 50161, "Voice messages must have supporting metadata.")
        return None

    def bot_permissions(self, guild_id: str) -> int:
        """The bot's permissions in a guild: @everyone's and its own role's (no channel overwrites)."""
        guild = self.guilds[guild_id]
        bot_member = next(m for m in guild["members"] if m["user"]["id"] == self.bot["id"])
        roles = [r for r in guild["roles"] if r["id"] == guild_id or r["id"] in bot_member["roles"]]
        permissions = 0
        for role in roles:
            permissions |= int(role["permissions"])
        return permissions

    def _uploaded(self, channel_id: str, body: dict[str, Any], files: list[Upload]) -> list[dict[str, Any]]:
        """The attachments of a new message: each `files[n]` part with the metadata whose id is n."""
        metadata = {str(a.get("id")): a for a in body.get("attachments") or []}
        attachments = []
        for upload in files:
            index = upload.field.removeprefix("files[").removesuffix("]")
            extra = metadata.get(index, {})
            attachment = self._attachment(channel_id, extra.get("filename") or upload.filename, upload.data)
            attachment["content_type"] = _content_type(upload)
            for key in ("duration_secs", "waveform", "description"):
                if key in extra:
                    attachment[key] = extra[key]
            attachments.append(attachment)
        return attachments

    def _attachment(self, channel_id: str, filename: str, data: bytes) -> dict[str, Any]:
        attachment_id = self.snowflake()
        self.files[attachment_id] = data
        url = f"http://127.0.0.1:{self.port}/attachments/{attachment_id}/{filename}"
        return {
            "id": attachment_id,
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": mimetypes.guess_type(filename)[0] or "application/octet-stream",
        }

    async def _download(self, request: web.Request) -> web.Response:
        """GET an attachment's url (Discord's CDN): no authorization, as discord.py sends none."""
        attachment_id = request.match_info["attachment_id"]
        if attachment_id not in self.files:
            return web.Response(status=404)
        self.downloads.append(attachment_id)
        await self._notify()
        return web.Response(body=self.files[attachment_id], content_type="application/octet-stream")

    def file_bytes(self, attachment: dict[str, Any]) -> bytes:
        """What is stored behind an attachment of a message."""
        return self.files[attachment["id"]]

    async def _edit_message(self, call: Call, channel_id: str, message_id: str) -> web.Response:
        message = self.messages.get(message_id)
        if message is None:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        if "content" in call.body:
            message["content"] = call.body["content"]
        message["edited_timestamp"] = _now_iso()
        self.edits.setdefault(message_id, []).append(call.at)
        return _json(message)

    async def _delete_message(self, call: Call, channel_id: str, message_id: str) -> web.Response:
        self.messages.pop(message_id, None)
        return web.Response(status=204)

    async def _get_message(self, call: Call, channel_id: str, message_id: str) -> web.Response:
        if message_id not in self.messages:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        return _json(self.messages[message_id])

    async def _history(self, call: Call, channel_id: str) -> web.Response:
        """A channel's messages, newest first, as Discord pages them: `limit` (1-100, default 50) of
        those right after `after`, right before `before`, or the newest."""
        if channel_id not in self.channels:
            return _error(404, 10003, "Unknown Channel")
        limit = int(call.query.get("limit", 50))
        if not 1 <= limit <= 100:
            return _error(400, 50035, "Invalid Form Body: limit must be 1-100")
        found = sorted(
            (m for m in self.messages.values() if m["channel_id"] == channel_id), key=lambda m: int(m["id"])
        )
        if "before" in call.query:
            found = [m for m in found if int(m["id"]) < int(call.query["before"])]
        if "after" in call.query:
            found = [m for m in found if int(m["id"]) > int(call.query["after"])][:limit]
        self.history_reads.append(channel_id)
        return _json(list(reversed(found[-limit:])))

    async def _get_channel(self, call: Call, channel_id: str) -> web.Response:
        if channel_id not in self.channels:
            return _error(404, 10003, "Unknown Channel")
        return _json(self.channels[channel_id])

    async def _typing(self, call: Call, channel_id: str) -> web.Response:
        return web.Response(status=204)

    async def _list_webhooks(self, call: Call, channel_id: str) -> web.Response:
        return _json([w for w in self.webhooks.values() if w["channel_id"] == channel_id])

    async def _create_webhook(self, call: Call, channel_id: str) -> web.Response:
        channel = self.channels[channel_id]
        webhook = {
            "id": self.snowflake(),
            "type": 1,
            "guild_id": channel.get("guild_id"),
            "channel_id": channel_id,
            "name": call.body["name"],
            "avatar": self._avatar(call.body.get("avatar")),
            "token": f"wtoken-{next(self._ids)}",
            "application_id": self.application_id,
            "user": self.bot,
        }
        self.webhooks[webhook["id"]] = webhook
        return _json(webhook)

    def _avatar(self, data_uri: str | None) -> str | None:
        """A picture sent as Discord takes one ("data:image/png;base64,…"): its hash, the bytes kept."""
        if data_uri is None:
            return None
        kind, _, encoded = data_uri.partition(";base64,")
        if kind not in ("data:image/png", "data:image/jpeg", "data:image/gif", "data:image/webp"):
            raise ValueError(f"not an image data URI: {data_uri[:40]!r}")
        avatar = hashlib.md5(base64.b64decode(encoded)).hexdigest()
        self._avatars[avatar] = base64.b64decode(encoded)
        return avatar

    def webhook_picture(self, webhook_id: str) -> bytes | None:
        """The picture a webhook was created with."""
        avatar = self.webhooks[webhook_id]["avatar"]
        return self._avatars.get(avatar) if avatar else None

    def add_chatty_bot(self, channel_id: str, name: str = "Chatter") -> dict[str, Any]:
        """Another bot in a channel, answering each message the bot or its webhooks post there with a
        line that mentions the bot (an echo bot, or a second AI bot)."""
        other = self.user(name, bot=True)
        self.chatty_bots.append(other | {"_channel": channel_id})
        return other

    def _posted(self, message: dict[str, Any]) -> dict[str, Any]:
        """A message the bot or one of its webhooks posted: shown back (`echo`), answered by chatty bots."""
        if self.echo or self.chatty_bots:
            shown = {k: v for k, v in message.items() if not k.startswith("_")}
            task = asyncio.get_running_loop().create_task(self._after_post(shown))
            self._posting.add(task)
            task.add_done_callback(self._posting.discard)
        return message

    async def _after_post(self, message: dict[str, Any]) -> None:
        if self.echo:
            await self.dispatch("MESSAGE_CREATE", message)
        for other in self.chatty_bots:
            if other["_channel"] == message["channel_id"]:
                author = {k: v for k, v in other.items() if k != "_channel"}
                await self.say(message["channel_id"], author, "I heard that. What else?", mention_bot=True)

    async def settled(self) -> None:
        """Once the echoes and the chatty bots' answers of what was posted so far are out."""
        while self._posting:
            await asyncio.gather(*self._posting)

    async def _execute_webhook(self, call: Call, webhook_id: str, token: str) -> web.Response:
        body = call.body or {}
        if webhook_id == self.application_id:  # an interaction follow-up
            message = self._bot_message(self._interaction_channel(token), body, flags=body.get("flags", 0))
            message["_interaction"] = True
            return _json(message)
        webhook = self.webhooks.get(webhook_id)
        if webhook is None or webhook["token"] != token:
            return _json({"message": "Unknown Webhook", "code": 10015}, status=404)
        if body.get("flags", 0) & ~WEBHOOK_FLAGS:
            return _error(400, 50035, "Invalid Form Body: flags: webhooks cannot set these message flags")
        channel_id = call.query.get("thread_id") or webhook["channel_id"]
        author = {
            "id": webhook_id,
            "username": body.get("username") or webhook["name"],
            "avatar": None,
            "discriminator": "0000",
            "bot": True,
        }
        message = self._bot_message(channel_id, body, author=author, webhook_id=webhook_id, files=call.files)
        message["_avatar_url"] = body.get("avatar_url")
        self._posted(message)
        return _json(message) if call.query.get("wait") in ("true", "1", "True") else web.Response(status=204)

    def _interaction_channel(self, token: str) -> str:
        return next(i["channel_id"] for i in self.interactions.values() if i["token"] == token)

    async def _edit_webhook_message(
        self, call: Call, webhook_id: str, token: str, message_id: str
    ) -> web.Response:
        if message_id == "@original":
            interaction_id = next(i["id"] for i in self.interactions.values() if i["token"] == token)
            message_id = self.interaction_responses[interaction_id]["message"]["id"]
        message = self.messages.get(message_id)
        if message is None:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        for key in ("content", "components"):
            if key in call.body:
                message[key] = call.body[key] or ([] if key == "components" else "")
        self.edits.setdefault(message_id, []).append(call.at)
        return _json(message)

    async def _interaction_callback(self, call: Call, interaction_id: str, token: str) -> web.Response:
        interaction = self.interactions.get(interaction_id)
        if interaction is None or interaction["token"] != token:
            return _json({"message": "Unknown interaction", "code": 10062}, status=404)
        body = call.body
        data = body.get("data") or {}
        kind = body["type"]
        if kind == 7:  # UPDATE_MESSAGE: a button edits the message it sits on
            message = self.messages[interaction["message"]["id"]]
            for key in ("content", "components"):
                if key in data:
                    message[key] = data[key] or ([] if key == "components" else "")
        else:
            message = self._bot_message(interaction["channel_id"], data, flags=data.get("flags", 0))
            message["_interaction"] = True
        self.interaction_responses[interaction_id] = {"type": kind, "data": data, "message": message}
        result = {
            "interaction": {
                "id": interaction_id,
                "type": interaction["type"],
                "response_message_id": message["id"],
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(data.get("flags", 0) & EPHEMERAL),
            },
            "resource": {"type": kind, "message": message},
        }
        if call.query.get("with_response") in ("1", "true", "True"):
            return _json(result)
        return web.Response(status=204)
