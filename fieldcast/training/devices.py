"""Choosing the compute device: CUDA, then Apple MPS, then CPU, or what the user forces."""

from __future__ import annotations

import torch

__all__ = ["DeviceError", "select_device"]


class DeviceError(ValueError):
    """The device asked for does not exist or is not available here."""


def select_device(preference: str = "auto", local_rank: int | None = None) -> torch.device:
    """Return the device for ``preference`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``).

    ``auto`` picks CUDA when available (``cuda:local_rank`` under torchrun), then MPS, then CPU. A forced
    device that is not available raises DeviceError rather than silently training elsewhere.
    """
    pref = preference.strip().lower()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank or 0)
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(pref)
    except RuntimeError as exc:
        raise DeviceError(f"unknown device {preference!r}; use auto, cpu, cuda, cuda:N or mps") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("device 'cuda' was asked for but CUDA is not available")
        if device.index is None and local_rank is not None:
            device = torch.device("cuda", local_rank)
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("device 'mps' was asked for but Apple MPS is not available")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unsupported device {preference!r}")
    return device
