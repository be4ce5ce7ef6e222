"""Loading a cell in Play: the solver and a network side by side, one load increment per step.

:class:`StressPlay` owns a microstructure, the reference solver on it and, optionally, an exported stress
model. Each :meth:`StressPlay.advance` runs one increment of both, timing each, and returns a
:class:`StressFrame` with the two von Mises fields, their difference and the MAE in MPa. The network is fed
its own previous prediction (a rollout, as it would replace the solver) or, with ``feed="solver"``, the
solver's field (one-step error). A model that predicts ``K`` increments per call (its ``increments``
metadata) is called once every ``K`` increments, from the field at the start of the block; the time of that
call is spread over its ``K`` increments (the time per increment the page shows). No Qt here: the Play page
runs it in its stepping thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fieldcast.engine.systems.stress.fft_solver import SpectralJ2Solver
from fieldcast.engine.systems.stress.j2 import J2Material
from fieldcast.engine.systems.stress.microstructure import Microstructure, material_maps
from fieldcast.engine.systems.stress.spec import DT, microstructure_fields

__all__ = ["MAX_INCREMENTS", "StressFrame", "StressPlay", "grain_error", "network_call", "network_step"]

MAX_INCREMENTS = 40  # F11 = 1.008
FEEDS = ("network", "solver")


@dataclass(frozen=True)
class StressFrame:
    """The cell after ``increment`` increments: von Mises stress of the solver and of the network (MPa)."""

    increment: int
    solver: np.ndarray  # (nx, ny) MPa
    network: np.ndarray | None  # (nx, ny) MPa, None without a model
    solver_seconds: float  # time of this increment's solve
    network_seconds: float  # time of this increment's inference (a K-increment call's time / K)

    @property
    def f11(self) -> float:
        return 1.0 + 1e-3 * DT * self.increment

    @property
    def error(self) -> np.ndarray | None:
        """Network minus solver (MPa)."""
        return None if self.network is None else self.network - self.solver

    @property
    def mae(self) -> float | None:
        """Mean absolute error of the network in MPa."""
        err = self.error
        return None if err is None else float(np.mean(np.abs(err)))

    @property
    def finite(self) -> bool:
        return bool(
            np.isfinite(self.solver).all() and (self.network is None or np.isfinite(self.network).all())
        )


def network_call(
    run: Callable[[np.ndarray], np.ndarray],
    layout: dict,
    von_mises: np.ndarray,
    controls: dict,
    increments: int = 1,
) -> np.ndarray:
    """One network call: ``(sigma_vM, controls...)`` in the model's input order -> ``sigma_vM`` (MPa) at the
    next ``increments`` increments, ``(increments, nx, ny)``."""
    state = list(layout["state"])
    if state != ["sigma_vM"]:
        raise ValueError(f"the model predicts {', '.join(state)}; the stress page needs sigma_vM alone")
    planes = [von_mises] + [controls[name] for name in layout["controls"]]
    x = np.stack(planes)[None].astype(np.float32)  # (1, 5, nx, ny)
    out = np.array(run(x), np.float32)[0]  # a copy: a session may reuse its output buffer
    if out.shape[0] != increments:
        raise ValueError(f"the model returned {out.shape[0]} fields, {increments} increment(s) expected")
    return out


def network_step(
    run: Callable[[np.ndarray], np.ndarray], layout: dict, von_mises: np.ndarray, controls: dict
) -> np.ndarray:
    """One increment of a one-increment network: next ``sigma_vM`` (MPa)."""
    return network_call(run, layout, von_mises, controls, 1)[0]


def grain_error(grains: np.ndarray, error: np.ndarray) -> tuple[float, float]:
    """MAE (MPa) on cells at a grain boundary (a 4-neighbour in another grain, periodic) and inside grains."""
    boundary = np.zeros(grains.shape, bool)
    for axis in (0, 1):
        for shift in (1, -1):
            boundary |= np.roll(grains, shift, axis=axis) != grains
    err = np.abs(error)
    return float(err[boundary].mean()) if boundary.any() else 0.0, float(err[~boundary].mean())


class StressPlay:
    """The reference solver and (optionally) a network loading the same cell, one increment per step.

    Parameters
    ----------
    micro : the microstructure (solver units).
    run : the network, ``x (1, 5, nx, ny) -> (1, 1, nx, ny)`` in physical units; None for the solver alone.
    layout : the model's channel layout (its ``state`` and ``controls`` names).
    feed : ``network`` (its own predictions, a rollout) or ``solver`` (the solver's field each step).
    increments : increments one network call predicts (the model's ``increments``).
    """

    def __init__(
        self,
        micro: Microstructure,
        run: Callable[[np.ndarray], np.ndarray] | None = None,
        layout: dict | None = None,
        feed: str = "network",
        max_increments: int = MAX_INCREMENTS,
        increments: int = 1,
    ) -> None:
        if feed not in FEEDS:
            raise ValueError(f"feed must be one of {', '.join(FEEDS)}, got {feed!r}")
        if run is not None and layout is None:
            raise ValueError("a network needs its layout")
        self.micro = micro
        self.run, self.layout, self.feed = run, layout, feed
        self.max_increments = int(max_increments)
        if not 1 <= int(increments) <= 1000:
            raise ValueError(f"increments must be 1 to 1000, got {increments!r}")
        self.increments = int(increments)
        self._pending: list[np.ndarray] = []  # frames of the last call not shown yet
        self._call_seconds = 0.0
        self.controls = microstructure_fields(micro)
        self.solver = SpectralJ2Solver(J2Material(**material_maps(micro)))
        zeros = np.zeros(micro.grains.shape, np.float32)
        self.frame = StressFrame(0, zeros, zeros.copy() if run is not None else None, 0.0, 0.0)
        #: every frame so far, by increment (appended by the stepping thread, read by the page)
        self.history: list[StressFrame] = [self.frame]

    @property
    def at_end(self) -> bool:
        return self.frame.increment >= self.max_increments

    def advance(self) -> StressFrame:
        """One more increment of both (the same frame again once at :attr:`max_increments`)."""
        if self.at_end:
            return self.frame
        start = time.perf_counter()
        solved = self.solver.step().von_mises.astype(np.float32)
        solver_s = time.perf_counter() - start
        network, network_s = None, 0.0
        if self.run is not None:
            if not self._pending:
                given = self.frame.network if self.feed == "network" else self.frame.solver
                start = time.perf_counter()
                block = network_call(self.run, self.layout, given, self.controls, self.increments)
                self._call_seconds = time.perf_counter() - start
                self._pending = list(block)
            network = self._pending.pop(0)
            network_s = self._call_seconds / self.increments
        self.frame = StressFrame(self.frame.increment + 1, solved, network, solver_s, network_s)
        self.history.append(self.frame)
        return self.frame
