"""Where the time goes: a cProfile listing of one call (``scripts/bench.py --profile``)."""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Callable


def profile_listing(fn: Callable[[], object], top: int = 15) -> str:
    """The functions ``fn`` spends its own time in, most first (cProfile, by tottime)."""
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    return text[text.find("ncalls") :] if "ncalls" in text else text
