"""What a start checks before it opens anything: `anima run`, `anima chat` and `anima config check`
all call check_start, so a config that passes the check is one a start accepts.

Checks that need only the config file itself (types, unknown keys, `${VAR}` placeholders, a webhook
without url) fail earlier, in load_settings; this adds what needs the disk: the cards, the
characters the bots are bound to, the model files, the database URL's kind. Every problem is
reported at once, each as `config.yaml:line: key.path: …`, no password shown.
"""

from __future__ import annotations

from collections.abc import Sequence

from anima.characters.library import CharacterLibrary
from anima.config import EmbeddedBackend, Settings
from anima.errors import AnimaError, CharacterNotFound, ConfigError
from anima.memory.database import database_url_problem
from anima.yaml_source import YamlDocument, display_path, field_path, read_yaml


def check_start(settings: Settings) -> CharacterLibrary:
    """The character library, once everything a start needs is there; ConfigError lists what is not."""
    where = _Locator(settings)
    problems: list[str] = []
    if problem := database_url_problem(settings.memory.database_url):
        problems.append(where(["memory", "database_url"], problem))
    library = CharacterLibrary.load(settings.resolve(settings.characters_dir))
    problems += [p for found in library.problems.values() for p in found]
    bound: list[tuple[list[str | int], str]] = [(["default_character"], settings.default_character)]
    for platform in ("telegram", "discord"):
        for i, bot in enumerate(getattr(settings.bots, platform)):
            if bot.character:
                bound.append((["bots", platform, i, "character"], bot.character))
            if not bot.token.get_secret_value().strip():
                problems.append(
                    where(
                        ["bots", platform, i, "token"],
                        "is empty: set the bot's token (e.g. ${TOKEN_VARIABLE})",
                    )
                )
    for i, cast in enumerate(settings.casts):
        bound += [(["casts", i, "members", j], member) for j, member in enumerate(cast.members)]
    for loc, name in bound:
        try:
            library.get(name)
        except CharacterNotFound as exc:
            problems.append(where(loc, str(exc)))
        except ConfigError:
            pass  # a card that does not validate: its own problems are listed above
    problems += _cast_problems(settings, library, where)
    used = [settings.llm.default, *settings.llm.fallbacks]
    for card in library.cards.values():
        asked = card.llm.backend
        if asked and asked not in settings.llm.backends:
            card_file = display_path(library.directory / f"{card.id}.yaml")
            problems.append(
                f"{card_file}: llm.backend: {asked!r} is not defined under llm.backends in the config "
                f"(defined: {', '.join(settings.llm.backends)})"
            )
        elif asked:
            used.append(asked)
    moderation = settings.safety.moderation
    if moderation is not None and moderation.kind == "judge":
        if moderation.backend in settings.llm.backends:
            used.append(moderation.backend)
        else:
            defined = ", ".join(settings.llm.backends)
            problems.append(
                where(
                    ["safety", "moderation", "backend"] if moderation.backend else ["safety", "moderation"],
                    f"kind judge needs `backend`, one of llm.backends ({defined})",
                )
            )
    for name in dict.fromkeys(used):
        backend = settings.llm.backends.get(name)
        if isinstance(backend, EmbeddedBackend) and (problem := _model_problem(name, backend)):
            problems.append(where(["llm", "backends", name, "model_path"], problem))
    if problems:
        raise ConfigError(problems)
    return library


def _cast_problems(settings: Settings, library: CharacterLibrary, where: _Locator) -> list[str]:
    """A cast needs a bot where it plays: on Discord one bot, on Telegram one per member (Telegram
    shows each bot's messages under that bot's name)."""
    problems = []
    served = set()
    for bot in settings.bots.telegram:
        try:
            served.add(library.get(bot.character or settings.default_character).id)
        except AnimaError:
            continue  # reported above
    for i, cast in enumerate(settings.casts):
        if cast.platform == "discord" and not settings.bots.discord:
            problems.append(
                where(["casts", i, "chat"], "no Discord bot to play it: add one under bots.discord")
            )
        if cast.platform != "telegram":
            continue
        for j, member in enumerate(cast.members):
            try:
                card_id = library.get(member).id
            except AnimaError:
                continue  # reported above
            if card_id not in served:
                problems.append(
                    where(
                        ["casts", i, "members", j],
                        f"{member} has no Telegram bot: add one under bots.telegram with character: "
                        f"{member} (each member speaks through a bot of its own)",
                    )
                )
    return problems


def _model_problem(name: str, backend: EmbeddedBackend) -> str | None:
    if backend.model_path is not None:
        if backend.model_path.is_file():
            return None
        return f"model file not found: {backend.model_path} (a .gguf file; relative to the working directory)"
    from anima.llm.embedded import bundled_model_path

    try:
        path = bundled_model_path()
    except AnimaError as exc:
        return str(exc)
    return None if path.is_file() else f"the bundled model of backend {name!r} is missing: {path}"


class _Locator:
    """`config.yaml:line: key.path: message` for a key of the loaded config (no line for defaults)."""

    def __init__(self, settings: Settings) -> None:
        self.doc: YamlDocument | None = None
        if settings.source is not None:
            try:
                self.doc = read_yaml(settings.source)
            except ConfigError:
                self.doc = None

    def __call__(self, loc: Sequence[str | int], message: str) -> str:
        if self.doc is not None:
            return self.doc.error(loc, message)
        return f"{field_path(loc)}: {message}"
