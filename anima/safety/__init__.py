"""Safety: checks on the user's message (input) and the model's reply (output).

Each check is a small object with one method; the pipeline runs them in order. The safety issue
adds moderation, leaks, injections and audit as more checks of the same shape.
"""

from anima.safety.checks import CutImpersonation, InputCheck, OutputCheck, SafetyPolicy, Verdict

__all__ = ["CutImpersonation", "InputCheck", "OutputCheck", "SafetyPolicy", "Verdict"]
