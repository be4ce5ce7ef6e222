"""Which Play page shows a file: smoke, melt, trajectory, stress, generative or the generic field page, or
none and why.

One answer for every way a model arrives (File > Open, a drop, ``fieldcast play FILE``, the model pickers,
"Open in Play" on a run), read from the file's own metadata. No Qt here, so the command line can ask before
it opens a window.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GCODE_SUFFIXES", "PAGES", "Route", "route_file"]

GCODE_SUFFIXES = (".gcode", ".gco", ".g")
#: the pages a file can go to
PAGES = ("smoke", "melt", "trajectory", "stress", "field", "generative")

# What the smoke page feeds a model and reads back (simulation.ModelBackend).
_SMOKE_STATE = ["density", "velocity_x", "velocity_y"]
_SMOKE_CONTROLS = {"emitter", "collider"}


@dataclass(frozen=True)
class Route:
    """Where a file goes: ``page`` (one of :data:`PAGES`), or None with the ``problem`` in one line."""

    page: str | None
    problem: str | None = None
    gcode: bool = False


def route_file(path: str | os.PathLike) -> Route:
    """The Play page that shows ``path``, or why none does.

    G-code and streaming sequence models go to the trajectory page, generative models (maps from condition
    maps) to the generative page; Fieldcast field models go by system and
    layout: smoke models the smoke page can feed to the smoke page, melt temperature and microstructure
    models to the melt page, trajectory models to the trajectory page, and every other field model (any
    system, built in or carried by the model) to the generic field page.
    """
    from fieldcast.engine.field_session import field_play_problem
    from fieldcast.engine.generative import is_generative_model, load_generative_checked
    from fieldcast.engine.melt_session import melt_model_kind
    from fieldcast.engine.runtime import ModelError, load_checked
    from fieldcast.engine.sequence_runtime import is_sequence_model

    path = Path(path)
    if path.suffix.lower() in GCODE_SUFFIXES:
        return Route("trajectory", gcode=True)
    if not path.is_file():
        return Route(None, "file not found")
    if is_sequence_model(path):
        return Route("trajectory")
    if is_generative_model(path):
        try:
            load_generative_checked(path)
        except ModelError as exc:
            return Route(None, exc.problem)
        return Route("generative")
    try:
        _, info = load_checked(path)
    except ModelError as exc:
        return Route(None, exc.problem)
    lay = info.layout
    if (
        info.system == "smoke"
        and list(lay["state"]) == _SMOKE_STATE
        and set(lay["controls"]) <= _SMOKE_CONTROLS
    ):
        return Route("smoke")
    if info.system == "melt" and melt_model_kind(path):
        return Route("melt")
    if info.system == "trajectory":
        return Route("trajectory")
    if info.system == "stress" and list(lay["state"]) == ["sigma_vM"]:
        return Route("stress")
    problem = field_play_problem(info)
    if problem:
        return Route(None, problem)
    return Route("field")
