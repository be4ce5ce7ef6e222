"""Torch views of engine datasets: training windows, a deterministic epoch plan, normalisation stats.

The engine dataset (``fieldcast.engine.data.open_dataset``) is lazy and picklable; each view here keeps only
the dataset and a list of ``(trajectory, start)`` windows, so DataLoader workers each open their own handle.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from fieldcast.training.rollout import ChannelLayout

__all__ = ["WindowDataset", "epoch_plan", "flip_x", "normalisation", "open_data"]


def open_data(path: str) -> Any:
    """Open an engine dataset file lazily (imported here so this module loads without h5py)."""
    from fieldcast.engine.data import open_dataset

    dataset = open_dataset(path)
    dataset.require_finite = True  # NaN in the data is the data's fault: say so instead of diverging
    return dataset


class WindowDataset(Dataset):
    """Windows of ``length`` consecutive frames from one split, each item float32 (length, C, nx, ny).

    ``repeat_first`` > 1 repeats the first window of every trajectory that many times in all.
    """

    def __init__(
        self, dataset: Any, split: str, length: int, max_windows: int | None = None, repeat_first: int = 1
    ) -> None:
        self.dataset = dataset
        self.length = length
        self.index = list(dataset.windows(split, length))[:max_windows]
        if repeat_first > 1:
            # The first window of each trajectory's segment again, (repeat_first - 1) more times.
            firsts, seen = [], set()
            for traj, start in self.index:
                if traj not in seen:
                    seen.add(traj)
                    firsts.append((traj, start))
            self.index += firsts * (repeat_first - 1)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> torch.Tensor:
        traj, start = self.index[i]
        return torch.from_numpy(np.ascontiguousarray(self.dataset.read_window(traj, start, self.length)))


def epoch_plan(
    n_items: int, batch_size: int, epoch: int, seed: int, rank: int = 0, world: int = 1, flip: bool = False
) -> list[tuple[list[int], list[bool]]]:
    """The batches of one epoch for one rank: ``[(indices, flips), ...]``, a pure function of its arguments.

    The permutation comes from a generator seeded by (seed, epoch), so a resumed run replays the same order
    and the global RNG is left alone. With ``world > 1`` the permutation is padded by wrapping so every rank
    gets the same number of batches, then dealt round-robin. A last partial batch is kept.
    """
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n_items, generator=gen).tolist()
    flips = (torch.rand(n_items, generator=gen) < 0.5).tolist() if flip else [False] * n_items
    if world > 1:
        per_rank = -(-n_items // world)
        perm = (perm * (world + 1))[: per_rank * world][rank::world]
    return [
        (perm[i : i + batch_size], [flips[j] for j in perm[i : i + batch_size]])
        for i in range(0, len(perm), batch_size)
    ]


def flip_x(batch: torch.Tensor, flips: list[bool], layout: ChannelLayout) -> torch.Tensor:
    """Mirror the samples marked in ``flips`` along x and negate the x-component of each vector field.

    ``batch`` is (B, L, C, nx, ny) in dataset channel order.
    """
    if not any(flips):
        return batch
    sel = torch.tensor(flips)
    out = batch.clone()
    mirrored = out[sel].flip(-2)
    for comps in layout.vectors:
        mirrored[:, :, layout.state[comps[0]]] *= -1.0
    out[sel] = mirrored
    return out


def normalisation(stats: dict, layout: ChannelLayout, floor: float = 1e-6) -> dict[str, list[float]]:
    """Input/output mean and std for the model from the dataset's train-split stats (per dataset channel).

    Channels whose std is below ``floor`` (constant masks, empty fields) get std 1 so they pass unchanged.
    """
    mean = np.asarray(stats["mean"], dtype=np.float64)
    std = np.asarray(stats["std"], dtype=np.float64)
    std = np.where(std < floor, 1.0, std)
    state = list(layout.state)
    hist = [state[j] for j in layout.history_state]
    in_idx = state + hist * (layout.history - 1) + list(layout.controls)
    return {
        "in_mean": mean[in_idx].tolist(),
        "in_std": std[in_idx].tolist(),
        "out_mean": mean[state].tolist(),
        "out_std": std[state].tolist(),
        "channel_names": list(layout.channel_names),
        "input_names": layout.input_names(),
        "output_names": layout.output_names(),
    }
