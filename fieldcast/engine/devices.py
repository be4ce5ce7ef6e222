"""Which compute devices and ONNX Runtime execution providers this machine can really use.

``onnxruntime-gpu`` lists CUDA and TensorRT among its providers on any machine, but asking for them without
the NVIDIA driver prints errors and falls back. Fieldcast asks only for providers whose device exists.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

__all__ = ["PROVIDER_PREFERENCE", "has_nvidia_driver", "listed_providers", "usable_providers"]

# Fastest first; CPU is always last and always usable.
PROVIDER_PREFERENCE = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "DmlExecutionProvider",
    "CoreMLExecutionProvider",
    "CPUExecutionProvider",
)


def _can_load(*names: str) -> bool:
    for name in names:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


@functools.cache
def has_nvidia_driver() -> bool:
    """True when the NVIDIA driver library loads, i.e. a CUDA device can exist."""
    if sys.platform == "win32":
        return _can_load("nvcuda.dll")
    if sys.platform == "darwin":
        return False
    return _can_load("libcuda.so.1", "libcuda.so")


@functools.cache
def _has_tensorrt() -> bool:
    if sys.platform == "win32":
        return any(ctypes.util.find_library(f"nvinfer_{v}") for v in (10, 8)) or _can_load("nvinfer.dll")
    return _can_load("libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so")


def listed_providers() -> list[str]:
    """Providers the installed onnxruntime build was compiled with (not all of them may work here)."""
    import onnxruntime

    return list(onnxruntime.get_available_providers())


def usable_providers() -> list[str]:
    """Providers that can run on this machine, fastest first, always ending with the CPU provider."""
    listed = set(listed_providers())
    usable = []
    for name in PROVIDER_PREFERENCE:
        if name not in listed:
            continue
        if name == "TensorrtExecutionProvider" and not (has_nvidia_driver() and _has_tensorrt()):
            continue
        if name == "CUDAExecutionProvider" and not has_nvidia_driver():
            continue
        if name == "DmlExecutionProvider" and sys.platform != "win32":
            continue
        if name == "CoreMLExecutionProvider" and sys.platform != "darwin":
            continue
        usable.append(name)
    if "CPUExecutionProvider" not in usable:
        usable.append("CPUExecutionProvider")
    return usable
