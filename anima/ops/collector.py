"""Python's garbage collector for a long-running bot: what start-up made is frozen out of its passes.

A bot holds 135,000-230,000 tracked objects once started (cards, the models' tables, SQLAlchemy,
the platform libraries), and a collection of the oldest generation walks all of them: ~80 ms of CPU
here, in whichever turn it falls (0.6 ms once they are frozen). Start-up's objects live as long as
the process, so once it is done they are moved to the permanent generation (`gc.freeze`), which
no collection walks; what is made while serving is collected as before. The cost: an object from
start-up that is dropped later inside a reference cycle is not freed (one without a cycle is, by
its reference count), which start-up's long-lived objects hardly ever are.
"""

from __future__ import annotations

import gc

_frozen = False


def freeze_startup_objects() -> None:
    """Collect start-up's garbage, then keep every object left out of later collections; once per
    process (a second runtime in it, as tests start, would freeze the first one's objects too)."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()
