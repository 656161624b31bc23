"""A fake Telegram Bot API server (aiohttp on 127.0.0.1) for running the unmodified PTB client.

It speaks the wire protocol PTB uses (POST /bot<token>/<method>, form-encoded parameters, JSON
replies with ok/result or ok/error_code/description/parameters) and keeps what a real server keeps:
pending updates with offsets and long polling, the messages a bot sent and their edits, the
voice notes it uploaded (multipart, bytes kept), the files people sent it (getFile and the download
under the file URL), the webhook a bot set. It checks what Telegram checks and fails loudly: empty
or over-long texts, edits that change nothing, markup that cannot be parsed, empty uploads, files
over the Bot API's download limit, unknown methods.

Tests drive it as the people in a chat would (`FakeBot.send_text`, `FakeBot.send_document`,
`FakeBot.send_recording` for voice notes, audio and video notes, `FakeBot.press`), inject faults
(`FakeBot.fail_next` answers 429 with retry_after, or 5xx) and read
what the bot sent (`FakeBot.replies`, `FakeBot.calls`). Delivery is tracked as Telegram sees it: what
getUpdates handed out (`FakeBot.handed_out`), and when an update counts as delivered (a higher offset,
or a webhook's 2xx): `FakeBot.delivered`, and `FakeBot.on_delivered` called at that moment.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.web_request import FileField

MAX_TEXT_UTF16 = 4096
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # what a bot may upload
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # what getFile serves to a bot
# How long a wait for the bot may last: a guard against a hang, not a speed test (a loaded 2-core CI
# machine can take tens of seconds); a wait ends as soon as its condition holds.
HANG_GUARD_S = 60.0
# Parameters PTB sends as plain strings; every other parameter is JSON-encoded.
STRING_PARAMS = {
    "text",
    "caption",
    "parse_mode",
    "action",
    "callback_query_id",
    "url",
    "secret_token",
    "description",
    "short_description",
}
COMMAND = re.compile(r"^/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{5,32})?")
MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}")
MARKDOWN_V2_RESERVED = re.compile(r"(?<!\\)[_*\[\]()~`>#+\-=|{}.!]")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status, description and optional parameters."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@dataclass
class Call:
    """One request the bot made, with the server's monotonic time and the HTTP status answered."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200


@dataclass
class SentMessage:
    """A message the bot sent, as the chat shows it now; `versions` holds (time, text) per send/edit."""

    chat_id: int
    message_id: int
    text: str
    reply_to: int | None = None
    reply_markup: dict[str, Any] | None = None
    parse_mode: str | None = None
    kind: str = "text"
    versions: list[tuple[float, str]] = field(default_factory=list)
    deleted: bool = False
    voice: bytes | None = None  # kind "voice": the uploaded file
    duration: int | None = None  # kind "voice": the duration the bot declared, in seconds
    photo: bytes | None = None  # kind "photo": the uploaded picture

    @property
    def buttons(self) -> dict[str, str]:
        """Inline keyboard as {button text: callback data}."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return {b["text"]: b.get("callback_data", "") for row in rows for b in row}


@dataclass
class Failure:
    status: int
    retry_after: int | None
    description: str


class FakeBot:
    """One bot account on the fake server: its identity, its updates and what it sent."""

    def __init__(
        self, server: FakeTelegram, bot_id: int, username: str, first_name: str, token: str | None = None
    ) -> None:
        self.server = server
        self.id = bot_id
        self.username = username
        self.first_name = first_name
        self.token = token or f"{bot_id}:{secrets.token_urlsafe(26)}"
        self.pending: deque[dict[str, Any]] = deque()
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], SentMessage] = {}
        self.commands: list[dict[str, str]] = []
        self.webhook: tuple[str, str] | None = None  # (url, secret token)
        self.webhook_statuses: list[int] = []
        self.failures: dict[str, deque[Failure]] = {}
        self.injected: dict[int, float] = {}  # update_id -> when it became available
        self.handed_out: dict[int, dict[str, Any]] = {}  # update_id -> update, once getUpdates returned it
        self.delivered: set[int] = set()  # confirmed by a higher offset, or answered 2xx by the webhook
        # Called with the ids of updates Telegram stops keeping, as it does so (before it answers).
        self.on_delivered: Callable[[list[int]], None] | None = None
        self.held: dict[str, asyncio.Event] = {}  # method -> set when its held requests may go on
        self.files: dict[str, bytes] = {}  # file_id -> the bytes of a file people sent the bot
        self.downloads: list[str] = []  # file paths the bot downloaded
        self.members: dict[tuple[int, int], str] = {}  # (chat, person) -> status other than "member"
        self.people: dict[int, dict[str, Any]] = {}  # everyone who wrote, for getChatMember's user
        # Telegram never shows a bot what other bots write; True makes this one get their group
        # messages anyway (what a bot-to-bot bridge or a future Bot API would do), to test it stays quiet.
        self.sees_bots = False
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._changed = asyncio.Condition()

    @property
    def user(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": True, "first_name": self.first_name, "username": self.username}

    # --- what tests do -------------------------------------------------------------------------

    def send_text(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        text: str,
        reply_to: SentMessage | dict[str, Any] | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A person writes `text` in `chat`; entities are parsed as Telegram does unless given."""
        message = self.message(chat, sender, text=text)
        if entities is None:
            entities = parse_entities(text)
        if entities:
            message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = self._as_message(reply_to)
        self.inject({"message": message})
        return message

    def send_document(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        data: bytes,
        file_name: str,
        mime_type: str = "application/octet-stream",
    ) -> dict[str, Any]:
        """A person sends a file as a document (uncompressed, with its name and size)."""
        file_id = f"doc{len(self.files) + 1}-{secrets.token_hex(4)}"
        self.files[file_id] = data
        document = {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        message = self.message(chat, sender, document=document)
        self.inject({"message": message})
        return message

    def send_recording(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        data: bytes,
        duration: int,
        kind: str = "voice",
        caption: str | None = None,
        reply_to: SentMessage | dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A person sends a recording: a voice note (kind "voice", OGG/Opus), an "audio" file or a round
        "video_note"; its bytes are served by getFile and the file download like a document's."""
        file_id = f"{kind}{len(self.files) + 1}-{secrets.token_hex(4)}"
        self.files[file_id] = data
        recording: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": file_id,
            "duration": duration,
            "file_size": len(data),
        }
        if kind == "voice":
            recording["mime_type"] = "audio/ogg"
        elif kind == "audio":
            recording |= {"mime_type": "audio/mpeg", "file_name": "recording.mp3"}
        else:
            recording["length"] = 240
        content: dict[str, Any] = {kind: recording}
        if caption is not None:
            content["caption"] = caption
        message = self.message(chat, sender, **content)
        if reply_to is not None:
            message["reply_to_message"] = self._as_message(reply_to)
        self.inject({"message": message})
        return message

    def send_photo(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        data: bytes,
        width: int,
        height: int,
        caption: str | None = None,
    ) -> dict[str, Any]:
        """A person sends a photo: Telegram offers it in sizes, smallest first (here a 90 px and an
        320 px one that serve a few bytes, and the full one that serves `data`)."""
        sizes = []
        for side, payload in ((90, b"small"), (320, b"medium"), (max(width, height), data)):
            file_id = f"photo{len(self.files) + 1}-{secrets.token_hex(4)}"
            self.files[file_id] = payload
            scale = side / max(width, height)
            sizes.append(
                {
                    "file_id": file_id,
                    "file_unique_id": file_id,
                    "width": round(width * scale),
                    "height": round(height * scale),
                    "file_size": len(payload),
                }
            )
        content: dict[str, Any] = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        message = self.message(chat, sender, **content)
        self.inject({"message": message})
        return message

    def post(self, chat_id: int, text: str) -> SentMessage:
        """This bot sends `text` to a chat, as if its own program called sendMessage (a bot that is
        no client under test: another bot in a group)."""
        message = self.server._store(self, {"chat_id": chat_id}, text, None)
        return self.messages[(chat_id, message["message_id"])]

    def sent_before(self, chat_id: int, text: str) -> SentMessage:
        """A message the bot sent before the test started (by an earlier run of it)."""
        message = self.server._store(self, {"chat_id": chat_id}, text, None)
        return self.messages[(chat_id, message["message_id"])]

    def make_admin(self, chat: dict[str, Any], member: dict[str, Any], status: str = "administrator") -> None:
        """`member` becomes an administrator (or with status="creator", the owner) of `chat`."""
        self.people[member["id"]] = member
        self.members[(chat["id"], member["id"])] = status

    def message(self, chat: dict[str, Any], sender: dict[str, Any], **content: Any) -> dict[str, Any]:
        """A Message object from `sender` in `chat` with the given content (text=, photo=, sticker=…)."""
        self.people[sender["id"]] = sender
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": sender,
            **content,
        }

    def press(self, chat: dict[str, Any], sender: dict[str, Any], sent: SentMessage, button: str) -> None:
        """`sender` presses the inline button labelled `button` under a message the bot sent."""
        data = sent.buttons[button]
        query = {
            "id": secrets.token_hex(8),
            "from": sender,
            "message": self._as_message(sent) | {"chat": chat},
            "chat_instance": str(chat["id"]),
            "data": data,
        }
        self.inject({"callback_query": query})

    def inject(self, content: dict[str, Any]) -> int:
        """Make an update available (queued for getUpdates, or pushed to the webhook); returns its id."""
        update = {"update_id": next(self._update_ids), **content}
        self.injected[update["update_id"]] = time.monotonic()
        if self.webhook:
            self.server.push(self, update)
        else:
            self.pending.append(update)
            self.server.notify(self)
        return update["update_id"]

    def hold(self, method: str) -> None:
        """Requests of `method` wait, unanswered and not acted on, until `release(method)`."""
        self.held.setdefault(method, asyncio.Event())

    def release(self, method: str) -> None:
        """Held requests go on, except those whose client is gone: they never happened."""
        held = self.held.pop(method, None)
        if held is not None:
            held.set()

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int | None = 1,
        times: int = 1,
        description: str = "",
    ) -> None:
        """Answer the next `times` calls of `method` with an error (429 + retry_after by default;
        403 with "Forbidden: bot was blocked by the user" is a person who blocked the bot)."""
        description = description or (
            f"Too Many Requests: retry after {retry_after}" if status == 429 else "Internal Server Error"
        )
        queue = self.failures.setdefault(method, deque())
        queue.extend(
            Failure(status, retry_after if status == 429 else None, description) for _ in range(times)
        )

    # --- what tests read -----------------------------------------------------------------------

    def replies(self, chat_id: int) -> list[SentMessage]:
        """Messages the bot sent to `chat_id` and did not delete, oldest first."""
        return [m for (c, _), m in sorted(self.messages.items()) if c == chat_id and not m.deleted]

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, condition: Callable[[], bool], within_s: float = HANG_GUARD_S) -> None:
        """Wait until `condition()` holds; it is re-checked after every request the bot makes."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(condition), within_s)

    async def wait_for_replies(
        self, chat_id: int, count: int = 1, within_s: float = HANG_GUARD_S
    ) -> list[SentMessage]:
        await self.wait_for(lambda: len(self.replies(chat_id)) >= count, within_s)
        return self.replies(chat_id)

    def confirm(self, update_ids: list[int]) -> None:
        """Telegram forgets these updates: the bot told it that it has them."""
        if update_ids:
            self.delivered.update(update_ids)
            if self.on_delivered is not None:
                self.on_delivered(update_ids)

    async def changed(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # --- helpers -------------------------------------------------------------------------------

    def _as_message(self, item: SentMessage | dict[str, Any]) -> dict[str, Any]:
        if isinstance(item, dict):
            return item
        return {
            "message_id": item.message_id,
            "date": int(time.time()),
            "chat": {"id": item.chat_id, "type": "private" if item.chat_id > 0 else "supergroup"},
            "from": self.user,
            "text": item.text,
        }


class FakeTelegram:
    """The server: `async with FakeTelegram() as tg: bot = tg.add_bot("aiko_bot")`."""

    def __init__(self, long_poll_cap_s: float = 5.0) -> None:
        self.bots: dict[str, FakeBot] = {}
        self.long_poll_cap_s = long_poll_cap_s  # keeps a stopping client from hanging on a poll
        self._bot_ids = itertools.count(7000001)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._pushes: set[asyncio.Task[None]] = set()
        self._wakeups: dict[str, asyncio.Event] = {}
        self.port = 0

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def say_in_group(
        self, bots: list[FakeBot], chat: dict[str, Any], sender: dict[str, Any], text: str
    ) -> dict[str, Any]:
        """A person writes in a group where several bots are (privacy mode off): each gets the same
        message, with its one message id, as an update of its own."""
        message = bots[0].message(chat, sender, text=text)
        entities = parse_entities(text)
        if entities:
            message["entities"] = entities
        for bot in bots:
            bot.people[sender["id"]] = sender
            bot.inject({"message": message})
        return message

    def add_bot(
        self, username: str = "aiko_bot", first_name: str = "Aiko", token: str | None = None
    ) -> FakeBot:
        bot = FakeBot(self, next(self._bot_ids), username, first_name, token)
        self.bots[bot.token] = bot
        self._wakeups[bot.token] = asyncio.Event()
        return bot

    async def start(self, port: int = 0) -> None:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        for event in self._wakeups.values():
            event.set()
        for bot in self.bots.values():
            for method in list(bot.held):
                bot.release(method)
        for task in list(self._pushes):
            task.cancel()
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    def notify(self, bot: FakeBot) -> None:
        self._wakeups[bot.token].set()

    def push(self, bot: FakeBot, update: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._push(bot, update))
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)

    async def _push(self, bot: FakeBot, update: dict[str, Any]) -> None:
        assert bot.webhook and self._session
        url, secret = bot.webhook
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        async with self._session.post(url, json=update, headers=headers) as response:
            bot.webhook_statuses.append(response.status)
            if response.status < 300:
                bot.confirm([update["update_id"]])
        await bot.changed()

    # --- the Bot API ---------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        bot = self.bots.get(request.match_info["token"])
        if bot is None:
            return _error(ApiError(401, "Unauthorized"))
        method = request.match_info["method"]
        params = _decode(await request.post()) if request.can_read_body else {}
        call = Call(method, params, time.monotonic())
        bot.calls.append(call)
        held = bot.held.get(method)
        if held is not None:
            await held.wait()
            if request.transport is None or request.transport.is_closing():
                call.status = 499  # the client went away (killed): nothing was done
                return web.Response(status=499)
        try:
            failure = bot.failures.get(method)
            if failure:
                f = failure.popleft()
                raise ApiError(
                    f.status, f.description, {"retry_after": f.retry_after} if f.retry_after else None
                )
            handler = getattr(self, f"_{method}", None)
            if handler is None:
                raise ApiError(404, f"Not Found: method {method} is not faked")
            result = await handler(bot, params)
        except ApiError as exc:
            call.status = exc.status
            await bot.changed()
            return _error(exc)
        await bot.changed()
        return web.json_response({"ok": True, "result": result})

    async def _getMe(self, bot: FakeBot, params: dict[str, Any]) -> dict[str, Any]:
        return bot.user | {"can_join_groups": True, "can_read_all_group_messages": False}

    async def _getUpdates(self, bot: FakeBot, params: dict[str, Any]) -> list[dict[str, Any]]:
        if bot.webhook:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset") or 0)
        confirmed = []
        while bot.pending and bot.pending[0]["update_id"] < offset:
            confirmed.append(bot.pending.popleft()["update_id"])  # confirmed by the higher offset
        bot.confirm(confirmed)
        timeout = min(float(params.get("timeout") or 0), self.long_poll_cap_s)
        wakeup = self._wakeups[bot.token]
        if not bot.pending and timeout > 0:
            wakeup.clear()
            try:
                await asyncio.wait_for(wakeup.wait(), timeout)
            except TimeoutError:
                pass
        limit = int(params.get("limit") or 100)
        batch = list(itertools.islice(bot.pending, limit))
        bot.handed_out.update((update["update_id"], update) for update in batch)
        return batch

    async def _deleteWebhook(self, bot: FakeBot, params: dict[str, Any]) -> bool:
        bot.webhook = None
        if params.get("drop_pending_updates"):
            bot.pending.clear()
        return True

    async def _setWebhook(self, bot: FakeBot, params: dict[str, Any]) -> bool:
        bot.webhook = (params["url"], params.get("secret_token", ""))
        while bot.pending:  # updates waiting for getUpdates go to the webhook from now on
            self.push(bot, bot.pending.popleft())
        return True

    async def _setMyCommands(self, bot: FakeBot, params: dict[str, Any]) -> bool:
        bot.commands = params["commands"]
        return True

    async def _getChatMember(self, bot: FakeBot, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        user = bot.people.get(user_id)
        if user is None:
            raise ApiError(400, "Bad Request: user not found")
        status = bot.members.get((chat_id, user_id), "member")
        member: dict[str, Any] = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            rights = ("can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_invite_users")
            member |= {"can_be_edited": False, "is_anonymous": False} | dict.fromkeys(rights, True)
            member |= dict.fromkeys(
                ("can_restrict_members", "can_promote_members", "can_change_info", "can_post_stories"), False
            )
            member |= {"can_edit_stories": False, "can_delete_stories": False}
        return member

    async def _sendChatAction(self, bot: FakeBot, params: dict[str, Any]) -> bool:
        return True

    async def _answerCallbackQuery(self, bot: FakeBot, params: dict[str, Any]) -> bool:
        return True

    async def _sendMessage(self, bot: FakeBot, params: dict[str, Any]) -> dict[str, Any]:
        text = _checked_text(params)
        reply = params.get("reply_parameters") or {}
        return self._store(bot, params, text, reply.get("message_id") or params.get("reply_to_message_id"))

    async def _sendVoice(self, bot: FakeBot, params: dict[str, Any]) -> dict[str, Any]:
        upload = params.get("voice")
        if not isinstance(upload, FileField):
            raise ApiError(400, "Bad Request: wrong remote file identifier specified")
        data = upload.file.read()
        if not data:
            raise ApiError(400, "Bad Request: file must be non-empty")
        duration = params.get("duration")
        if duration is not None and not isinstance(duration, int):
            raise ApiError(400, "Bad Request: duration must be an integer number of seconds")
        reply = params.get("reply_parameters") or {}
        message = self._store(
            bot,
            params,
            params.get("caption", ""),
            reply.get("message_id") or params.get("reply_to_message_id"),
            kind="voice",
        )
        sent = bot.messages[(int(params["chat_id"]), message["message_id"])]
        sent.voice, sent.duration = data, duration
        voice = {
            "file_id": f"voice{sent.message_id}",
            "file_unique_id": f"v{sent.message_id}",
            "duration": duration or 0,
            "mime_type": upload.content_type,
            "file_size": len(data),
        }
        return message | {"voice": voice}

    async def _sendPhoto(self, bot: FakeBot, params: dict[str, Any]) -> dict[str, Any]:
        upload = params.get("photo")
        if not isinstance(upload, FileField):
            raise ApiError(400, "Bad Request: wrong remote file identifier specified")
        data = upload.file.read()
        if not data:
            raise ApiError(400, "Bad Request: file must be non-empty")
        message = self._store(bot, params, params.get("caption", ""), None, kind="photo")
        bot.messages[(int(params["chat_id"]), message["message_id"])].photo = data
        size = {"file_id": f"sent{message['message_id']}", "file_unique_id": "s", "width": 64, "height": 64}
        return message | {"photo": [size]}

    async def _getFile(self, bot: FakeBot, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id", ""))
        data = bot.files.get(file_id)
        if data is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if len(data) > MAX_DOWNLOAD_BYTES:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_size": len(data),
            "file_path": f"documents/{file_id}",
        }

    async def _download(self, request: web.Request) -> web.Response:
        """GET <base_file_url><token>/<file_path>: the bytes of a file getFile described."""
        bot = self.bots.get(request.match_info["token"])
        if bot is None:
            return web.Response(status=401)
        path = request.match_info["path"]
        data = bot.files.get(path.removeprefix("documents/"))
        if data is None:
            return web.Response(status=404)
        bot.downloads.append(path)
        await bot.changed()
        return web.Response(body=data, content_type="application/octet-stream")

    async def _editMessageText(self, bot: FakeBot, params: dict[str, Any]) -> dict[str, Any]:
        sent = self._find(bot, params)
        text = _checked_text(params)
        markup = params.get("reply_markup")
        if text == sent.text and markup == sent.reply_markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        sent.text, sent.reply_markup = text, markup
        sent.versions.append((time.monotonic(), text))
        return self._render(bot, sent)

    async def _editMessageReplyMarkup(self, bot: FakeBot, params: dict[str, Any]) -> dict[str, Any]:
        sent = self._find(bot, params)
        sent.reply_markup = params.get("reply_markup")
        return self._render(bot, sent)

    async def _deleteMessage(self, bot: FakeBot, params: dict[str, Any]) -> bool:
        self._find(bot, params).deleted = True
        return True

    def _find(self, bot: FakeBot, params: dict[str, Any]) -> SentMessage:
        sent = bot.messages.get((int(params["chat_id"]), int(params["message_id"])))
        if sent is None or sent.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        return sent

    def _store(
        self, bot: FakeBot, params: dict[str, Any], text: str, reply_to: int | None, kind: str = "text"
    ) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        sent = SentMessage(
            chat_id,
            next(bot._message_ids),
            text,
            reply_to,
            params.get("reply_markup"),
            params.get("parse_mode"),
            kind,
            [(time.monotonic(), text)],
        )
        bot.messages[(chat_id, sent.message_id)] = sent
        message = self._render(bot, sent)
        if chat_id < 0 and kind == "text":  # a group: the bots there that see other bots get it
            for other in self.bots.values():
                if other is not bot and other.sees_bots:
                    other.inject({"message": message | {"chat": group_chat(chat_id), "from": bot.user}})
        return message

    def _render(self, bot: FakeBot, sent: SentMessage) -> dict[str, Any]:
        message = bot._as_message(sent)
        if sent.reply_markup:
            message["reply_markup"] = sent.reply_markup
        return message


def parse_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram's server finds in plain text: a leading /command and @usernames."""
    found = [(m, "bot_command") for m in COMMAND.finditer(text)]
    found += [(m, "mention") for m in MENTION.finditer(text)]
    return [
        {"type": kind, "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group())}
        for m, kind in sorted(found, key=lambda f: f[0].start())
    ]


def _decode(form: Any) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, value in form.items():
        if not isinstance(value, str):
            params[name] = value  # an uploaded file
        elif name in STRING_PARAMS:
            params[name] = value
        else:
            try:
                params[name] = json.loads(value)
            except ValueError:
                params[name] = value
    return params


def _checked_text(params: dict[str, Any]) -> str:
    """The text as Telegram would accept it, or the ApiError Telegram would answer."""
    text = str(params.get("text", ""))
    if not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if utf16_len(text) > MAX_TEXT_UTF16:
        raise ApiError(400, "Bad Request: message is too long")
    mode = params.get("parse_mode")
    if mode == "MarkdownV2" and (bad := MARKDOWN_V2_RESERVED.search(text)):
        raise ApiError(
            400,
            f"Bad Request: can't parse entities: Character '{bad.group()}' is reserved and must be escaped",
        )
    if mode == "Markdown" and any(text.count(c) % 2 for c in "*_`"):
        raise ApiError(400, "Bad Request: can't parse entities: Can't find end of the entity")
    if mode == "HTML" and re.search(r"<(?!/?(b|i|u|s|a|code|pre)\b)|&(?!(lt|gt|amp|quot);)", text):
        raise ApiError(400, "Bad Request: can't parse entities: Unsupported start tag")
    return text


def _error(exc: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": exc.status, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return web.json_response(body, status=exc.status)


def private_chat(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "type": "private", "first_name": user["first_name"]}


def group_chat(chat_id: int = -1001234567890, title: str = "Tea club") -> dict[str, Any]:
    return {"id": chat_id, "type": "supergroup", "title": title}


def person(user_id: int, first_name: str, is_bot: bool = False) -> dict[str, Any]:
    return {"id": user_id, "is_bot": is_bot, "first_name": first_name}
