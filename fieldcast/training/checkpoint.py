"""Checkpoints: safetensors weights, a JSON sidecar, and a separate training-state file.

Layout of ``checkpoints/`` in a run folder, for each tag (``last``, ``best``)::

    <tag>.safetensors   model weights; safetensors metadata {"step", "epoch", "format"}
    <tag>.json          sidecar: model {name, args, version}, normalisation, config, data {path, hash},
                        system, step, epoch, metric, created
    <tag>.pt            (last only) optimizer, scheduler, scaler, epoch, step, RNG and loop state;
                        read with torch.load(weights_only=True)

Every file is written atomically (temp file in the same folder, fsync, ``os.replace``); the sidecar is written
last and carries the step, so a reader can tell a complete checkpoint from one interrupted mid-way.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as st_save
from torch import nn

from fieldcast.training.models import build_model

__all__ = [
    "FORMAT",
    "atomic_write",
    "data_fingerprint",
    "load_checkpoint",
    "load_model",
    "load_train_state",
    "save_checkpoint",
]

FORMAT = "fieldcast-checkpoint/1"


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see either the old file or the complete new one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def data_fingerprint(path: str | os.PathLike | None) -> str | None:
    """A cheap identity of a data file: sha256 of its size, first and last MiB (``None`` without a file)."""
    if not path or not os.path.isfile(path):
        return None
    h = hashlib.sha256()
    size = os.path.getsize(path)
    h.update(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(-(1 << 20), os.SEEK_END)
            h.update(f.read())
    return "sha256-sampled:" + h.hexdigest()[:32]


def save_checkpoint(
    folder: Path,
    tag: str,
    model: nn.Module,
    sidecar: dict[str, Any],
    train_state: dict[str, Any] | None = None,
) -> Path:
    """Write checkpoint ``tag`` of ``model`` into ``folder``; returns the weights path.

    ``sidecar`` must hold ``step`` and ``epoch``; model name, arguments and version are added from the model.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    step, epoch = int(sidecar["step"]), int(sidecar["epoch"])
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "step": str(step), "epoch": str(epoch)}
    weights = folder / f"{tag}.safetensors"
    atomic_write(weights, st_save(tensors, metadata=meta))
    if train_state is not None:
        buf = io.BytesIO()
        torch.save({**train_state, "step": step, "epoch": epoch}, buf)
        atomic_write(folder / f"{tag}.pt", buf.getvalue())
    record = {
        "format": FORMAT,
        "model": {"name": model.model_name, "args": model.model_args, "version": model.model_version},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "torch": torch.__version__,
        **sidecar,
    }
    atomic_write(folder / f"{tag}.json", json.dumps(record, indent=2, default=str).encode())
    return weights


def load_checkpoint(weights: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read ``<tag>.safetensors`` and its sidecar; raises ValueError when they disagree (a torn write)."""
    weights = Path(weights)
    sidecar = json.loads(weights.with_suffix(".json").read_text(encoding="utf-8"))
    with safe_open(str(weights), framework="pt") as f:
        meta = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}
    if meta.get("step") != str(sidecar.get("step")):
        raise ValueError(
            f"{weights}: weights (step {meta.get('step')}) and sidecar (step {sidecar.get('step')}) disagree"
        )
    return state, sidecar


def load_model(weights: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a checkpoint from its sidecar and load its weights."""
    state, sidecar = load_checkpoint(weights)
    model = build_model(sidecar["model"]["name"], sidecar["model"]["args"])
    model.load_state_dict(state)
    return model, sidecar


def load_train_state(path: str | os.PathLike, expected_step: int | None = None) -> dict[str, Any]:
    """Read a ``.pt`` training state safely (``weights_only=True``) and check it matches the weights' step."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if expected_step is not None and state.get("step") != expected_step:
        raise ValueError(
            f"{path}: training state is for step {state.get('step')}, weights for {expected_step}"
        )
    return state
