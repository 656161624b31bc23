"""Telegram bots through python-telegram-bot (v22): the only package that imports `telegram`."""

from anima.bots.telegram.adapter import TelegramAdapter

__all__ = ["TelegramAdapter"]
