"""Soul growth: each character's learned layer beside its authored card, grown from its conversations.

Changes are proposed in the background (proposer), checked (review), stored with their evidence,
approved by the owner or applied within the card's `growth:` bounds, and versioned (store); the
prompt gets the learned lines after the persona, under their own token budget (layer).
"""

from anima.errors import SoulError
from anima.soul.changes import Change, Entry, Evidence, Proposal, Source, Version
from anima.soul.layer import LearnedLayer, layer_lines
from anima.soul.proposer import ProposalCost, SoulProposer
from anima.soul.store import SoulStore

__all__ = [
    "Change",
    "Entry",
    "Evidence",
    "LearnedLayer",
    "Proposal",
    "ProposalCost",
    "SoulError",
    "SoulProposer",
    "SoulStore",
    "Source",
    "Version",
    "layer_lines",
]
