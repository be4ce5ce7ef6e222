"""Budgets for what a file may make Fieldcast allocate, and parsers that cannot be driven into recursion.

No reader trusts a size a file declares: before allocating, it asks :func:`check_budget` whether the
declared bytes fit the memory budget. The budget is a fraction of the memory this process may use (the
machine's memory, or a lower address-space limit set on the process), or ``FIELDCAST_MEMORY_BUDGET_MB``
when that is set. A single frame or array may take :data:`FRAME_FRACTION` of it, since a reader holds a
few copies of what it reads (the raw block, float32, the statistics pass in float64).

:func:`loads_json` is ``json.loads`` that refuses deep nesting (and, when asked, size) before parsing, so a
crafted metadata attribute gives a one-line error instead of a ``RecursionError``. :func:`read_json_file`
reads a small JSON file (``run.json``, a checkpoint sidecar) without trusting its size or its depth, and
:func:`loads_yaml` is ``yaml.safe_load`` bounded in depth and in what aliases expand to.
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
    "MAX_JSON_FILE_BYTES",
    "MAX_JSON_LINE_BYTES",
    "MAX_YAML_NODES",
    "BudgetError",
    "JsonFileError",
    "check_budget",
    "format_bytes",
    "frame_budget",
    "loads_json",
    "loads_yaml",
    "memory_budget",
    "nesting_depth",
    "read_json_file",
    "short",
]

BUDGET_ENV = "FIELDCAST_MEMORY_BUDGET_MB"
#: share of the memory this process may use that one budgeted job may hold
MEMORY_FRACTION = 0.25
#: share of the budget one frame (or one array read at once) may take
FRAME_FRACTION = 0.125
#: JSON and YAML nesting deeper than this is not metadata a person wrote
MAX_JSON_DEPTH = 64
#: a JSON file Fieldcast writes beside a run (``run.json``, a checkpoint sidecar) is a few kilobytes
MAX_JSON_FILE_BYTES = 16 << 20
#: one record (line) of ``metrics.jsonl``
MAX_JSON_LINE_BYTES = 1 << 20
#: values a YAML document may expand to through aliases (an alias bomb expands to gigabytes)
MAX_YAML_NODES = 100_000


class BudgetError(ValueError):
    """A declared size does not fit the memory budget; the message is the problem, without a path."""


class JsonFileError(ValueError):
    """A JSON file that cannot be read: ``str()`` is ``"PATH: problem"``; :attr:`problem` has no path."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


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


def loads_json(
    text: str | bytes, what: str = "JSON", max_depth: int = MAX_JSON_DEPTH, max_bytes: int | None = None
) -> Any:
    """``json.loads`` that refuses nesting deeper than ``max_depth`` and, when ``max_bytes`` is given, text
    longer than that (ValueError naming ``what``; ``json.JSONDecodeError`` for text that is not JSON)."""
    if max_bytes is not None and len(text) > max_bytes:
        raise ValueError(f"{what} is {format_bytes(len(text))}, more than the {format_bytes(max_bytes)} read")
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    depth = nesting_depth(text)
    if depth > max_depth:
        raise ValueError(f"{what} is nested {depth} levels deep (at most {max_depth} are read)")
    try:
        return json.loads(text)
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise ValueError(f"{what} is nested too deeply") from None


def read_json_file(
    path: str | os.PathLike,
    what: str = "the file",
    max_bytes: int = MAX_JSON_FILE_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """The JSON value in ``path``, read without trusting the file: at most ``max_bytes`` are read (a file
    that holds more is refused, whatever its size says) and nesting deeper than ``max_depth`` is refused
    before parsing.

    Raises
    ------
    JsonFileError : the file is too large, not UTF-8, too deeply nested or not JSON (``PATH: problem``,
        the problem speaking of ``what``).
    OSError : the file cannot be opened or read.
    """
    with open(path, "rb") as f:
        raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise JsonFileError(path, f"{what} is larger than the {format_bytes(max_bytes)} read")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonFileError(path, f"{what} is not valid JSON (not UTF-8 text)") from None
    try:
        return loads_json(text, what, max_depth)
    except json.JSONDecodeError as exc:
        raise JsonFileError(
            path, f"{what} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except ValueError as exc:
        raise JsonFileError(path, str(exc)) from None


def loads_yaml(text: str, max_depth: int = MAX_JSON_DEPTH, max_nodes: int = MAX_YAML_NODES) -> Any:
    """``yaml.safe_load`` after checking nesting depth and alias expansion on the event stream.

    Raises ``ValueError`` (the problem, without a path) for a document nested deeper than ``max_depth`` or
    expanding to more than ``max_nodes`` values through aliases; ``yaml.YAMLError`` for text that is not
    YAML.
    """
    import yaml

    sizes: dict[str, int] = {}
    stack: list[list] = [[None, 0]]  # [anchor, values so far] per open collection
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            stack.append([event.anchor, 1])
            if len(stack) > max_depth:
                raise ValueError(f"nested more than {max_depth} levels deep")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, count = stack.pop()
            if anchor is not None:
                sizes[anchor] = count
            stack[-1][1] += count
        elif isinstance(event, yaml.ScalarEvent):
            stack[-1][1] += 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            stack[-1][1] += sizes.get(event.anchor, 1)
        if stack[-1][1] > max_nodes or stack[0][1] > max_nodes:
            raise ValueError(f"expands to more than {max_nodes:,} values (aliases repeating aliases?)")
    return yaml.safe_load(text)


def short(value: Any, limit: int = 200) -> str:
    """``str(value)`` cut to ``limit`` characters for a message or a description line."""
    text = str(value) if not isinstance(value, str) else value
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text):,} characters)"
