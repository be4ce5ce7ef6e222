"""The pictures each system adds to a report, registered by the system itself.

A system package registers a function with :func:`register_pictures` when it is imported (its
``report`` module); the report asks :func:`system_pictures` for the pictures of whatever system a run or model
names, and so knows no system by name. A dataset from elsewhere (``generic:<name>``) or a system that
registers nothing simply adds no pictures.

A picture function receives a :class:`ReportInputs` and returns :class:`Picture` items (a matplotlib
figure with a title and a caption), drawing only from what it is given (and the dataset file, if it needs
more of the data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Picture", "ReportInputs", "register_pictures", "system_pictures"]

log = logging.getLogger(__name__)


@dataclass
class Picture:
    """One figure of a report with its title and a caption saying what it shows."""

    title: str
    figure: Any  # matplotlib.figure.Figure
    caption: str = ""


@dataclass
class ReportInputs:
    """What a picture function may draw from.

    Attributes
    ----------
    system : the system id of the run or model.
    evaluation : the evaluation result with its ``arrays`` (see :mod:`fieldcast.engine.evaluate`), or None.
    samples : the newest validation's saved samples (:class:`~fieldcast.engine.run_folder.Samples`), or None.
    data : the dataset file evaluated on, or None.
    spec : the system spec as a dict (``spec_to_dict``), or None.
    """

    system: str
    evaluation: dict[str, Any] | None = None
    samples: Any = None
    data: Path | None = None
    spec: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


PictureFunction = Callable[[ReportInputs], list[Picture]]
_PICTURES: dict[str, PictureFunction] = {}


def register_pictures(system: str, function: PictureFunction) -> PictureFunction:
    """Make ``function`` draw the report pictures of ``system`` (called by the system's package)."""
    _PICTURES[system] = function
    return function


def system_pictures(inputs: ReportInputs) -> tuple[list[Picture], list[str]]:
    """The pictures the system of ``inputs`` contributes, and notes on any it could not draw.

    The system's package is imported through the spec registry (which is what registers its pictures).
    """
    from fieldcast.engine.systems.base import get_spec

    name = inputs.system
    if name not in _PICTURES:
        try:
            get_spec(name)
        except (KeyError, ImportError):
            pass  # a generic or unknown system: nothing registered
    function = _PICTURES.get(name)
    if function is None:
        return [], []
    try:
        return list(function(inputs)), []
    except (ValueError, KeyError, OSError) as exc:  # data the pictures cannot use: said in the report
        log.warning("report pictures of %s: %s", name, exc)
        return [], [f"the {name} pictures could not be drawn: {exc}"]
