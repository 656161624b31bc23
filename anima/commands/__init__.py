"""Every chat command once: a function of a neutral Context returning a value (anima.core.surface's
Answer), and one table the Telegram menu, the Discord slash commands and the terminal's /help are
made from. Adapters parse nothing but the command's name; the words after it are the command's."""

from anima.commands.context import Context
from anima.commands.table import COMMANDS, Command, Commands, help_text, parse

__all__ = ["COMMANDS", "Command", "Commands", "Context", "help_text", "parse"]
