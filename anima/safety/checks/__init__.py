"""The checks: each one small, independent, with one job (see anima/safety/policy.py for the order)."""

from anima.safety.checks.crisis import CrisisCheck
from anima.safety.checks.flood import FloodControl
from anima.safety.checks.harm import HarmCheck
from anima.safety.checks.impersonation import CutImpersonation
from anima.safety.checks.injection import InjectionCheck
from anima.safety.checks.leak import LeakCheck
from anima.safety.checks.learned import LearnedGuard
from anima.safety.checks.length import LengthCap
from anima.safety.checks.mentions import NeutraliseMassMentions
from anima.safety.checks.moderation import ModerationCheck
from anima.safety.checks.persona import PersonaBreak
from anima.safety.checks.pii import PiiRedaction
from anima.safety.checks.topics import BlockedTopics
from anima.safety.checks.toxicity import Toxicity

__all__ = [
    "BlockedTopics",
    "CrisisCheck",
    "CutImpersonation",
    "FloodControl",
    "HarmCheck",
    "InjectionCheck",
    "LeakCheck",
    "LearnedGuard",
    "LengthCap",
    "ModerationCheck",
    "NeutraliseMassMentions",
    "PersonaBreak",
    "PiiRedaction",
    "Toxicity",
]
