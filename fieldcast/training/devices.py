"""Choosing the compute device: CUDA, then Apple MPS, then CPU, or what the user forces."""

from __future__ import annotations

import torch

__all__ = ["DeviceError", "amp_settings", "select_device"]


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


def amp_settings(enabled: bool, dtype_name: str, device: torch.device) -> tuple[bool, torch.dtype, bool]:
    """(autocast on, its dtype, gradient scaler on) for a recipe's ``amp``/``amp_dtype`` on ``device``.

    float16 autocasts on CUDA only and needs a gradient scaler (its range underflows small gradients);
    bfloat16 has float32's range, so it runs without one, on CUDA and, when asked for, on CPU and MPS.
    """
    dtype = torch.bfloat16 if dtype_name == "bfloat16" else torch.float16
    if not enabled:
        return False, dtype, False
    if dtype == torch.float16:
        on = device.type == "cuda"
        return on, dtype, on
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return True, torch.float16, True  # older GPUs: float16 with a scaler instead
    return True, dtype, False
