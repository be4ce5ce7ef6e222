"""Budgets for what a file may make Fieldcast allocate, and parsers that cannot be driven into recursion.

No reader trusts a size a file declares: before allocating, it asks :func:`check_budget` whether the
declared bytes fit the memory budget. The budget is a fraction of the memory this process may use (the
machine's memory, or a lower address-space limit set on the process), or ``FIELDCAST_MEMORY_BUDGET_MB``
when that is set. A single frame or array may take :data:`FRAME_FRACTION` of it, since a reader holds a
few copies of what it reads (the raw block, float32, the statistics pass in float64).

:func:`loads_json` is ``json.loads`` that refuses deep nesting before parsing, so a crafted metadata
attribute gives a one-line error instead of a ``RecursionError``.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

__all__ = [
    "BUDGET_ENV",
    "FRAME_FRACTION",
    "MAX_JSON_DEPTH",
    "BudgetError",
    "check_budget",
    "format_bytes",
    "frame_budget",
    "loads_json",
    "memory_budget",
    "nesting_depth",
    "short",
]

BUDGET_ENV = "FIELDCAST_MEMORY_BUDGET_MB"
#: share of the memory this process may use that one budgeted job may hold
MEMORY_FRACTION = 0.25
#: share of the budget one frame (or one array read at once) may take
FRAME_FRACTION = 0.125
#: JSON and YAML nesting deeper than this is not metadata a person wrote
MAX_JSON_DEPTH = 64


class BudgetError(ValueError):
    """A declared size does not fit the memory budget; the message is the problem, without a path."""


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def _address_space_limit() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def memory_budget() -> int:
    """Bytes one job may allocate for data: ``FIELDCAST_MEMORY_BUDGET_MB`` or a quarter of the memory
    this process may use (the lower of the machine's memory and the process's address-space limit)."""
    text = os.environ.get(BUDGET_ENV, "").strip()
    if text:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if value > 0:
            return int(value * 2**20)
    usable = _physical_memory()
    limit = _address_space_limit()
    if limit is not None:
        # The interpreter, numpy, h5py and ONNX Runtime take a few hundred MB of address space themselves.
        usable = min(usable, max(limit - (768 << 20), limit // 4))
    return max(64 << 20, int(usable * MEMORY_FRACTION))


def frame_budget() -> int:
    """Bytes one frame (or one array read in one piece) may take."""
    return max(8 << 20, int(memory_budget() * FRAME_FRACTION))


def format_bytes(n: float) -> str:
    """``n`` bytes for a person: ``"3.2 GiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def check_budget(nbytes: float, what: str, limit: int | None = None) -> None:
    """Raise :class:`BudgetError` when ``what`` needs more than ``limit`` bytes (default: the budget)."""
    limit = memory_budget() if limit is None else int(limit)
    if nbytes > limit:
        raise BudgetError(
            f"{what} needs {format_bytes(nbytes)}, over the memory budget of {format_bytes(limit)} "
            f"(set {BUDGET_ENV} to allow more)"
        )


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def nesting_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting of JSON ``text`` (strings ignored), without parsing it."""
    import numpy as np

    bare = _STRING.sub("", text)
    if not bare:
        return 0
    codes = np.frombuffer(bare.encode("utf-8", errors="replace"), dtype=np.uint8)
    step = np.zeros(codes.size, dtype=np.int32)
    step[(codes == ord("[")) | (codes == ord("{"))] = 1
    step[(codes == ord("]")) | (codes == ord("}"))] = -1
    return int(np.cumsum(step).max(initial=0))


def loads_json(text: str | bytes, what: str = "JSON", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that refuses nesting deeper than ``max_depth`` (ValueError naming ``what``)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    depth = nesting_depth(text)
    if depth > max_depth:
        raise ValueError(f"{what} is nested {depth} levels deep (at most {max_depth} are read)")
    try:
        return json.loads(text)
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise ValueError(f"{what} is nested too deeply") from None


def short(value: Any, limit: int = 200) -> str:
    """``str(value)`` cut to ``limit`` characters for a message or a description line."""
    text = str(value) if not isinstance(value, str) else value
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text):,} characters)"
