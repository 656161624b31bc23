"""Character cards: schema, loading with precise errors, and macros."""

from anima.characters.card import CharacterCard
from anima.characters.library import CharacterLibrary, load_card
from anima.characters.macros import expand

__all__ = ["CharacterCard", "CharacterLibrary", "expand", "load_card"]
