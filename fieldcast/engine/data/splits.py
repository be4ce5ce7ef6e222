"""Train/valid/test splits: recipes stored in the file, and the frame segments they select.

A split is stored as a small *recipe* in the Fieldcast attribute rather than as an index list, so it
stays a few bytes for any number of trajectories and says how it was made:

- ``{"method": "trajectory", "fractions": [0.7, 0.15, 0.15], "seed": 0, "assignment": "tvte..."}``:
  whole trajectories per split. The drawn assignment (one letter per trajectory) is stored too, so the
  split never depends on a random generator's stream staying the same across numpy versions.
- ``{"method": "time", "ratios": [12, 6, 6]}``: every trajectory is cut in time, the first 12/24 of its
  frames train, the next 6/24 validate, the last 6/24 test.
- ``{"method": "explicit", "segments": {"train": [[traj, start, stop], ...], ...}}``: a stored list.

A segment is ``(traj, frame_start, frame_stop)`` with ``frame_stop`` exclusive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "AUTO_TIME_RATIOS",
    "SPLIT_NAMES",
    "choose_split",
    "describe_split",
    "split_by_time",
    "split_by_trajectory",
    "split_explicit",
    "segments_from_recipe",
    "windows_in_segments",
]

SPLIT_NAMES = ("train", "valid", "test")
# A dataset with fewer trajectories than this cannot give every split a whole trajectory: it is cut in time.
MIN_TRAJECTORIES_FOR_TRAJECTORY_SPLIT = 3
AUTO_TIME_RATIOS = (70.0, 15.0, 15.0)
_LETTER = {"train": "t", "valid": "v", "test": "e"}


def _counts(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    f = np.asarray(fractions, dtype=np.float64)
    if f.shape != (3,) or np.any(f < 0) or f.sum() <= 0:
        raise ValueError(f"split fractions must be three non-negative numbers, got {list(fractions)}")
    f = f / f.sum()
    n_valid = int(round(n * f[1]))
    n_test = int(round(n * f[2]))
    # Small datasets: a split asked for gets at least one trajectory, as long as train keeps one too.
    if n >= 3:
        n_valid = max(n_valid, 1 if f[1] > 0 else 0)
        n_test = max(n_test, 1 if f[2] > 0 else 0)
    while n_valid + n_test > n - (1 if f[0] > 0 else 0) and (n_valid or n_test):
        if n_test >= n_valid and n_test:
            n_test -= 1
        else:
            n_valid -= 1
    return n - n_valid - n_test, n_valid, n_test


def split_by_trajectory(
    n_trajectories: int, fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0
) -> dict:
    """A recipe assigning whole trajectories to train/valid/test at random (reproducible from ``seed``)."""
    n_train, n_valid, n_test = _counts(n_trajectories, fractions)
    order = np.random.default_rng(seed).permutation(n_trajectories)
    letters = np.empty(n_trajectories, dtype="<U1")
    letters[order[:n_train]] = "t"
    letters[order[n_train : n_train + n_valid]] = "v"
    letters[order[n_train + n_valid :]] = "e"
    return {
        "method": "trajectory",
        "fractions": [float(x) for x in fractions],
        "seed": int(seed),
        "assignment": "".join(letters.tolist()),
    }


def split_by_time(ratios: Sequence[float] = (12, 6, 6)) -> dict:
    """A recipe cutting every trajectory in time, e.g. ``(12, 6, 6)`` frames' worth of train/valid/test."""
    r = [float(x) for x in ratios]
    if len(r) != 3 or any(x < 0 for x in r) or sum(r) <= 0:
        raise ValueError(f"time ratios must be three non-negative numbers, got {list(ratios)}")
    return {"method": "time", "ratios": r}


def split_explicit(segments: Mapping[str, Sequence[Sequence[int]]]) -> dict:
    """A recipe from explicit ``(traj, start, stop)`` segments per split name."""
    out = {}
    for name, segs in segments.items():
        if name not in SPLIT_NAMES:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLIT_NAMES)}")
        out[name] = [[int(a), int(b), int(c)] for a, b, c in segs]
    return {"method": "explicit", "segments": out}


def _time_bounds(n_frames: int, ratios: Sequence[float]) -> list[int]:
    r = np.asarray(ratios, dtype=np.float64)
    cuts = np.floor(np.cumsum(r) / r.sum() * n_frames + 1e-9).astype(int)
    return [0, int(cuts[0]), int(cuts[1]), n_frames]


def segments_from_recipe(
    recipe: Mapping, n_trajectories: int, n_frames: int
) -> dict[str, list[tuple[int, int, int]]]:
    """The ``(traj, start, stop)`` segments of each split; raises ValueError if the recipe does not fit."""
    method = recipe.get("method")
    out: dict[str, list[tuple[int, int, int]]] = {name: [] for name in SPLIT_NAMES}
    if method == "trajectory":
        letters = str(recipe.get("assignment", ""))
        if len(letters) < n_trajectories:
            raise ValueError(f"trajectory split covers {len(letters)} of {n_trajectories} trajectories")
        for name in SPLIT_NAMES:
            out[name] = [(i, 0, n_frames) for i in range(n_trajectories) if letters[i] == _LETTER[name]]
    elif method == "time":
        b = _time_bounds(n_frames, recipe["ratios"])
        for k, name in enumerate(SPLIT_NAMES):
            if b[k + 1] > b[k]:
                out[name] = [(i, b[k], b[k + 1]) for i in range(n_trajectories)]
    elif method == "explicit":
        for name, segs in recipe.get("segments", {}).items():
            if name not in out:
                raise ValueError(f"unknown split {name!r}")
            for traj, start, stop in segs:
                if not (0 <= traj < n_trajectories and 0 <= start < stop <= n_frames):
                    raise ValueError(f"segment ({traj}, {start}, {stop}) of split {name!r} is out of range")
                out[name].append((int(traj), int(start), int(stop)))
    else:
        raise ValueError(f"unknown split method {method!r}")
    return out


def windows_in_segments(
    segments: Sequence[tuple[int, int, int]], length: int, stride: int = 1
) -> list[tuple[int, int]]:
    """All ``(traj, start)`` such that frames ``start .. start+length-1`` lie inside one segment."""
    if length < 1:
        raise ValueError(f"window length must be at least 1, got {length}")
    out = []
    for traj, start, stop in segments:
        out.extend((traj, s) for s in range(start, stop - length + 1, stride))
    return out


def choose_split(setting: str | Sequence[float], n_trajectories: int, stored: Mapping | None) -> dict:
    """The split recipe a training run uses.

    ``setting`` is ``"auto"`` (the stored split, or 70/15/15 by trajectory, when the file has at least
    three trajectories; else every trajectory cut in time 70:15:15, so validation never reuses training
    frames), ``"stored"`` (the stored split, or the default by trajectory) or three time ratios.
    """
    if isinstance(setting, str):
        if setting not in ("auto", "stored"):
            raise ValueError(f'split must be "auto", "stored" or three time ratios, got {setting!r}')
        if setting == "auto" and n_trajectories < MIN_TRAJECTORIES_FOR_TRAJECTORY_SPLIT:
            if stored and stored.get("method") in ("time", "explicit"):
                return dict(stored)
            return split_by_time(AUTO_TIME_RATIOS)
        return dict(stored) if stored else split_by_trajectory(n_trajectories)
    return split_by_time(setting)


def describe_split(recipe: Mapping, n_trajectories: int) -> str:
    """One line saying how a split was made, e.g. ``along time 70:15:15 (1 trajectory)``."""
    method = recipe.get("method")
    plural = "trajectory" if n_trajectories == 1 else "trajectories"
    if method == "time":
        ratios = ":".join(f"{r:g}" for r in recipe["ratios"])
        why = (
            f"; only {n_trajectories} {plural}, so later frames of each validate"
            if n_trajectories < MIN_TRAJECTORIES_FOR_TRAJECTORY_SPLIT
            else ""
        )
        return f"along time {ratios} of every trajectory ({n_trajectories} {plural}){why}"
    if method == "trajectory":
        letters = str(recipe.get("assignment", ""))[:n_trajectories]
        counts = [letters.count(c) for c in "tve"]
        return f"by trajectory: {counts[0]} train, {counts[1]} valid, {counts[2]} test"
    if method == "explicit":
        return "explicit segments stored in the file"
    return f"unknown method {method!r}"
