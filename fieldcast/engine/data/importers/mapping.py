"""Mapping a foreign file's channel names onto a system spec's channels.

Source arrays are first split into scalar channels (a ``velocity`` array of shape ``(..., 2)`` becomes
``velocity_x`` and ``velocity_y``). Each source channel then goes, in this order, to: the target given by
the user (``--map SRC=DST``; an empty DST drops it), or the target its known alias names, or, for a generic
import (no system given), a channel of its own name. What is left is reported as unmapped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from fieldcast.engine.systems.base import MAX_NAME, FieldSpec, SystemSpec

__all__ = ["ALIASES", "ChannelMapping", "generic_spec_from_channels", "map_channels", "parse_map_args"]

# Canonical channel -> source names meaning it, most specific first. Blender/Mantaflow scenes are z-up,
# so a 2D slice's vertical velocity arrives as ``vel_z``; it is used only when no ``vel_y`` exists.
ALIASES: dict[str, tuple[str, ...]] = {
    "density": ("density", "dens", "rho"),
    "velocity_x": ("velocity_x", "vel_x", "vx", "u", "v_x", "velx"),
    "velocity_y": ("velocity_y", "vel_y", "vy", "v", "v_y", "vely", "vel_z", "vz", "velocity_z"),
    "pressure": ("pressure", "pres", "p"),
    "temperature": ("temperature", "temp", "heat"),
    "emitter": ("emitter", "source", "inflow", "emission", "emit"),
    "collider": ("collider", "obstacle", "obstacles", "solid", "mask_obstacle", "walls"),
}
_CONTROL_NAMES = {"emitter", "collider"}
_ALIAS_RANK = {alias: (canon, rank) for canon, names in ALIASES.items() for rank, alias in enumerate(names)}


@dataclass
class ChannelMapping:
    """The outcome of mapping: which source feeds each target channel, and what was left over.

    Attributes
    ----------
    assign : target channel -> source channel.
    unmapped : source channels not imported, each with the reason (``"vel_y: no channel velocity_y"``).
    missing : target channels without a source (an importer fills controls with zeros, refuses state).
    """

    assign: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def parse_map_args(items: Iterable[str]) -> dict[str, str]:
    """``["vel_z=velocity_y", "junk="]`` -> ``{"vel_z": "velocity_y", "junk": ""}``; raises ValueError."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--map expects SRC=DST, got {item!r}")
        src, dst = (s.strip() for s in item.split("=", 1))
        if not src:
            raise ValueError(f"--map expects SRC=DST, got {item!r}")
        out[src] = dst
    return out


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")
    return cleaned or "channel"


def map_channels(
    sources: Sequence[str], targets: Sequence[str] | None = None, overrides: Mapping[str, str] | None = None
) -> ChannelMapping:
    """Map ``sources`` onto ``targets`` (a spec's channel names), or onto canonical names when None."""
    overrides = dict(overrides or {})
    result = ChannelMapping()
    unknown_override = [s for s in overrides if s not in sources]
    if unknown_override:
        raise ValueError(f"--map names {unknown_override}, not in the source ({', '.join(sources)})")
    target_set = None if targets is None else set(targets)
    taken: dict[str, tuple[int, str]] = {}  # target -> (rank, source); overrides have rank -1

    def claim(target: str, src: str, rank: int) -> None:
        if target in taken:
            old_rank, old_src = taken[target]
            if old_rank <= rank:
                result.unmapped.append(f"{src}: {target} already comes from {old_src}")
                return
            result.unmapped.append(f"{old_src}: {target} comes from {src} instead")
        taken[target] = (rank, src)

    for src in sources:
        if src in overrides:
            dst = overrides[src]
            if not dst:
                result.unmapped.append(f"{src}: dropped by --map")
            elif target_set is not None and dst not in target_set:
                raise ValueError(f"--map {src}={dst}: no channel {dst!r}; channels are {', '.join(targets)}")
            else:
                claim(dst, src, -1)
            continue
        canon, rank = _ALIAS_RANK.get(src.lower(), (None, 0))
        if canon is not None and (target_set is None or canon in target_set):
            claim(canon, src, rank)
        elif target_set is None:
            claim(_safe_name(src), src, 1000)
        else:
            hint = f"alias of {canon}, which" if canon else "no matching channel; the system"
            result.unmapped.append(f"{src}: {hint} has channels {', '.join(targets)}")
    result.assign = {target: src for target, (_, src) in taken.items()}
    if targets is not None:
        result.missing = [t for t in targets if t not in result.assign]
    return result


def generic_spec_from_channels(name: str, channels: Sequence[str], dt: float = 1.0) -> SystemSpec:
    """A spec for channels no system describes: ``a_x``/``a_y`` pairs become vector field ``a``."""
    present = set(channels)
    fields: list[FieldSpec] = []
    done: set[str] = set()
    for ch in channels:
        if ch in done:
            continue
        base = ch[:-2]
        if ch.endswith(("_x", "_y")) and f"{base}_x" in present and f"{base}_y" in present:
            fields.append(FieldSpec(base, role=_role(base), order=1))
            done.update((f"{base}_x", f"{base}_y"))
        else:
            fields.append(FieldSpec(ch, role=_role(ch), order=0))
            done.add(ch)
    return SystemSpec(
        name=f"generic:{name}"[:MAX_NAME], fields=tuple(fields), dt=dt, description="imported data"
    )


def _role(name: str) -> str:
    return "control" if name in _CONTROL_NAMES else "state"
