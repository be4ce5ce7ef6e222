"""Checkpoints: safetensors weights, a JSON sidecar, and a separate training-state file.

Layout of ``checkpoints/`` in a run folder, for each tag (``last``, ``best``)::

    <tag>.safetensors   model weights; safetensors metadata {"step", "epoch", "format"}
    <tag>.json          sidecar: model {name, args, version}, normalisation, config, data {path, hash},
                        system, step, epoch, metric, created
    <tag>.pt            (last only) optimizer, scheduler, scaler, epoch, step, RNG and loop state;
                        read with torch.load(weights_only=True)

Every file is written atomically (temp file in the same folder, fsync, ``os.replace``); the sidecar is written
last and carries the step, so a reader can tell a complete checkpoint from one interrupted mid-way. Before a
complete checkpoint is overwritten its files are hard-linked to ``<tag>.prev.*`` (removed again once the new
one is complete), so a process killed between the three writes still leaves one complete checkpoint:
:func:`last_complete` finds it.

Reading never runs code from a file: ``.pt`` files go through ``torch.load(weights_only=True)`` and every
failure to read becomes one :class:`CheckpointError` line naming the file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import struct
import time
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save
from torch import nn

from fieldcast.engine.files import atomic_write
from fieldcast.engine.limits import JsonFileError, loads_json, read_json_file
from fieldcast.training.models import build_model

__all__ = [
    "FORMAT",
    "CheckpointError",
    "atomic_write",
    "data_fingerprint",
    "last_complete",
    "load_checkpoint",
    "load_model",
    "load_train_state",
    "save_checkpoint",
]

FORMAT = "fieldcast-checkpoint/1"

# A safetensors header is a few KiB of JSON; a claimed length beyond this is a damaged or hostile file.
_MAX_HEADER_BYTES = 100 << 20


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; ``str()`` is one line, ``"PATH: problem"``."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    return text.splitlines()[0].split(". ")[0][:160]


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
    _keep_previous(folder, tag)
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
    for suffix in (".json", ".safetensors", ".pt"):  # the new one is complete: the safety copy can go
        (folder / f"{tag}.prev{suffix}").unlink(missing_ok=True)
    return weights


def _weights_step(weights: Path) -> str | None:
    """The step in a safetensors header, read without loading tensors (None if unreadable)."""
    try:
        with open(weights, "rb") as f:
            head = f.read(8)
            if len(head) != 8:
                return None
            (n,) = struct.unpack("<Q", head)
            if n > min(_MAX_HEADER_BYTES, os.fstat(f.fileno()).st_size - 8):
                return None
            meta = loads_json(f.read(n)).get("__metadata__") or {}
    except (OSError, ValueError, AttributeError):
        return None
    return meta.get("step") if isinstance(meta, dict) else None


def _sidecar_step(sidecar: Path) -> str | None:
    try:
        record = read_json_file(sidecar, "the checkpoint sidecar")
    except (OSError, ValueError):
        return None
    return str(record.get("step")) if isinstance(record, dict) and "step" in record else None


def _is_complete(folder: Path, tag: str) -> bool:
    """Weights and sidecar of ``tag`` exist and carry the same step (the sidecar is written last)."""
    step = _sidecar_step(folder / f"{tag}.json")
    return step is not None and _weights_step(folder / f"{tag}.safetensors") == step


def _keep_previous(folder: Path, tag: str) -> None:
    """Hard-link a complete ``tag`` checkpoint to ``tag.prev.*`` before it is overwritten.

    The sidecar is linked last, so ``tag.prev`` is complete exactly when its sidecar matches its weights.
    A torn ``tag`` (its writer was killed) is not linked: ``tag.prev`` then still holds the complete one.
    """
    if not _is_complete(folder, tag):
        return
    for suffix in (".safetensors", ".pt", ".json"):
        src, dst = folder / f"{tag}{suffix}", folder / f"{tag}.prev{suffix}"
        if not src.is_file():
            dst.unlink(missing_ok=True)
            continue
        tmp = folder / f".{tag}.prev{suffix}.link"
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)
        except OSError:  # a file system without hard links: copy instead
            atomic_write(tmp, src.read_bytes())
        os.replace(tmp, dst)


def last_complete(folder: str | os.PathLike, tag: str = "last") -> Path | None:
    """The weights file of the newest complete ``tag`` checkpoint in ``folder``, or None.

    ``<tag>.safetensors`` when its write finished, else ``<tag>.prev.safetensors`` (the checkpoint before,
    kept by :func:`save_checkpoint` while a new one is written).
    """
    folder = Path(folder)
    for name in (tag, f"{tag}.prev"):
        if _is_complete(folder, name):
            return folder / f"{name}.safetensors"
    return None


def load_checkpoint(weights: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read ``<tag>.safetensors`` and its sidecar.

    Raises
    ------
    CheckpointError : a file is missing, damaged or lying about its contents, or weights and sidecar
        disagree (a torn write: use :func:`last_complete`).
    """
    weights = Path(weights)
    side = weights.with_suffix(".json")
    try:
        sidecar = read_json_file(side, "the checkpoint sidecar")
    except OSError as exc:
        raise CheckpointError(side, f"cannot read the checkpoint sidecar ({exc.strerror or exc})") from None
    except JsonFileError as exc:  # not JSON, not UTF-8, nested too deep or far too large
        raise CheckpointError(side, exc.problem) from None
    if not isinstance(sidecar, dict):
        raise CheckpointError(side, "the checkpoint sidecar is not a JSON object")
    try:
        with safe_open(str(weights), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(weights, f"not a readable safetensors file ({_first_line(exc)})") from None
    if meta.get("step") != str(sidecar.get("step")):
        raise CheckpointError(
            weights, f"weights (step {meta.get('step')}) and sidecar (step {sidecar.get('step')}) disagree"
        )
    return state, sidecar


def load_model(weights: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a checkpoint from its sidecar and load its weights."""
    state, sidecar = load_checkpoint(weights)
    model = build_model(sidecar["model"]["name"], sidecar["model"]["args"])
    model.load_state_dict(state)
    return model, sidecar


def load_train_state(path: str | os.PathLike, expected_step: int | None = None) -> dict[str, Any]:
    """Read a ``.pt`` training state safely (``weights_only=True``) and check it matches the weights' step.

    Raises
    ------
    CheckpointError : the file is missing or damaged, holds anything but tensors and plain containers (a
        pickle that would run code is refused, never executed), or belongs to another step.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            path, "training state holds Python objects other than tensors; refused (never unpickled)"
        ) from None
    except (OSError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise CheckpointError(path, f"not a readable training state ({_first_line(exc)})") from None
    if not isinstance(state, dict):
        raise CheckpointError(path, f"training state is a {type(state).__name__}, not a mapping")
    if expected_step is not None and state.get("step") != expected_step:
        raise CheckpointError(
            path, f"training state is for step {state.get('step')}, weights for {expected_step}"
        )
    return state
