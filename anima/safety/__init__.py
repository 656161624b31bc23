"""Safety: checks on a person's message (input) and the model's reply (output), a judge, the audit.

Each check is a small object with one method (anima/safety/checks/, one per file); `SafetyPolicy`
runs them in order for every message, on every platform, and stores every decision other than
allow. See docs/safety.md.
"""

from anima.safety.checks import CutImpersonation
from anima.safety.policy import ChatOverride, SafetyPolicy, TurnSafety, override_scope, rules_of
from anima.safety.verdict import InputCheck, OutputCheck, Rules, Verdict

__all__ = [
    "ChatOverride",
    "CutImpersonation",
    "InputCheck",
    "OutputCheck",
    "Rules",
    "SafetyPolicy",
    "TurnSafety",
    "Verdict",
    "override_scope",
    "rules_of",
]
