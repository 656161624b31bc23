"""Discord: characters in servers, threads and DMs through discord.py (imported nowhere else in Anima)."""

from anima.bots.discord.adapter import DiscordAdapter

__all__ = ["DiscordAdapter"]
