"""Training the melt microstructure surrogate (dual-encoder CNN-ConvLSTM), and its ONNX export.

The rollout trainer (:mod:`fieldcast.training.trainer`) predicts every state channel from the same frame;
the microstructure model instead predicts the 9 IPF channels of ``t+1`` from ``t`` *and* the temperature of
``t+1`` (supplied by the solver or the temperature surrogate), carrying a ConvLSTM state. So it has this
small loop, yielding the trainer's events (:class:`StepEvent`, :class:`EpochEvent`, :class:`ValidationEvent`,
:class:`CheckpointEvent`, :class:`FinishedEvent`, :class:`Progress`).

A training window holds ``context + unroll`` frames. The ConvLSTM starts from zero and steps through the
ground-truth frames; the predictions of the last ``unroll`` steps are scored (``unroll = 1`` with three
context frames is the original setup). The loss is MSE on cells solid at ``t+1`` plus a
solidification-weighted MSE whose weights peak mid-way between solidus and liquidus; ``crop_rows`` keeps
only the top rows of the section, where the laser acts. Validation scores the model and the persistence
baseline on the same cells (:mod:`fieldcast.training.melt_eval`).

Run as ``python -m fieldcast.training.melt_train RECIPE --data FILE --out RUN_DIR``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from fieldcast.engine.data.splits import segments_from_recipe, split_by_time, windows_in_segments
from fieldcast.engine.jobs import CancelToken, Progress
from fieldcast.engine.systems.melt_ipf import IPF_CHANNELS
from fieldcast.training.checkpoint import data_fingerprint, save_checkpoint
from fieldcast.training.events import CheckpointEvent, EpochEvent, FinishedEvent, StepEvent, ValidationEvent
from fieldcast.training.melt_eval import FrontScore, solid_mask
from fieldcast.training.models import build_model
from fieldcast.training.models import convlstm as _convlstm  # noqa: F401  (registers "convlstm")

__all__ = [
    "MeltRecipe",
    "MeltWindows",
    "evaluate_windows",
    "export_convlstm",
    "load_melt_recipe",
    "run_window",
    "solidification_weights",
    "train_melt",
]


@dataclass
class MeltRecipe:
    """A microstructure recipe (YAML sections ``data``, ``model``, ``loss``, ``optim``, ``train``)."""

    name: str = "melt_convlstm"
    description: str = ""
    system: str = "melt"
    data: dict[str, Any] = field(default_factory=dict)  # path, split [12, 6, 6] | "stored", context, unroll,
    # crop_rows, batch_size, max_train_windows, max_valid_windows
    model: dict[str, Any] = field(default_factory=lambda: {"name": "convlstm", "args": {}})
    loss: dict[str, Any] = field(default_factory=dict)  # mse, solidification, width
    optim: dict[str, Any] = field(default_factory=dict)  # lr, weight_decay, grad_clip
    train: dict[str, Any] = field(default_factory=dict)  # epochs, seed, max_steps

    def get(self, section: str, key: str, default: Any) -> Any:
        return getattr(self, section).get(key, default)


def load_melt_recipe(path: str | Path) -> MeltRecipe:
    """Read a microstructure recipe; unknown top-level keys raise ValueError naming the file."""
    path = Path(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    known = {f.name for f in dataclasses.fields(MeltRecipe)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"recipe {path.name}: unknown key(s) {', '.join(unknown)}")
    recipe = MeltRecipe(**{"name": path.stem, **data})
    rel = recipe.data.get("path")
    if rel and not Path(rel).is_absolute():
        recipe.data["path"] = str((path.parent / rel).resolve())
    return recipe


def solidification_weights(t_next: torch.Tensor, solidus: float, liquidus: float, width: float = 0.1):
    """exp(-((T* - 0.5)**2) / width) with T* = (T - solidus) / (liquidus - solidus): peaks mid mushy range."""
    t_star = (t_next - solidus) / (liquidus - solidus)
    return torch.exp(-((t_star - 0.5) ** 2) / width)


class MeltWindows:
    """Windows of ``length`` frames of temperature (K) and IPF channels, preloaded as float32 tensors.

    ``split`` is ``"stored"`` (the file's own splits) or time ratios such as ``[12, 6, 6]``.
    """

    def __init__(self, dataset: Any, split: Any, length: int, crop_rows: int | None = None) -> None:
        names = list(dataset.channel_names)
        self.t_idx = names.index("temperature")
        self.ipf_idx = [names.index(n) for n in IPF_CHANNELS]
        recipe = dataset.split_recipe if split == "stored" else split_by_time(split)
        self.segments = segments_from_recipe(recipe, dataset.n_trajectories, dataset.n_frames)
        self.length, self.crop = length, crop_rows
        self._frames: dict[int, torch.Tensor] = {}
        self.dataset = dataset

    def trajectory(self, traj: int) -> torch.Tensor:
        """(T, 10, nx, ny') frames of one trajectory: temperature then the 9 IPF channels."""
        if traj not in self._frames:
            w = self.dataset.read_window(traj, 0, self.dataset.n_frames)[:, [self.t_idx, *self.ipf_idx]]
            if self.crop:
                w = w[..., -self.crop :]  # the top rows: y points up
            self._frames[traj] = torch.from_numpy(np.ascontiguousarray(w))
        return self._frames[traj]

    def windows(self, split: str, limit: int | None = None) -> list[tuple[int, int]]:
        return windows_in_segments(self.segments[split], self.length)[:limit]

    def batch(self, items: list[tuple[int, int]]) -> torch.Tensor:
        """(B, length, 10, nx, ny') windows."""
        return torch.stack([self.trajectory(t)[s : s + self.length] for t, s in items])

    def stats(self) -> dict[str, list[float]]:
        """Per-channel mean and std over the train segments (normalisation travels with the model)."""
        frames = torch.cat([self.trajectory(t)[a:b] for t, a, b in self.segments["train"]]).double()
        mean = frames.mean(dim=(0, 2, 3))
        std = frames.std(dim=(0, 2, 3)).clamp_min(1e-6)
        return {"mean": mean.tolist(), "std": std.tolist()}


class _Normaliser:
    def __init__(self, stats: dict[str, list[float]]) -> None:
        m, s = stats["mean"], stats["std"]
        self.in_mean = torch.tensor(m[1:] + [m[0], m[0]]).view(1, -1, 1, 1)  # ipf(t), T(t), T(t+1)
        self.in_std = torch.tensor(s[1:] + [s[0], s[0]]).view(1, -1, 1, 1)
        self.out_mean = torch.tensor(m[1:]).view(1, -1, 1, 1)
        self.out_std = torch.tensor(s[1:]).view(1, -1, 1, 1)

    def record(self) -> dict[str, Any]:
        return {
            "in_mean": self.in_mean.flatten().tolist(),
            "in_std": self.in_std.flatten().tolist(),
            "out_mean": self.out_mean.flatten().tolist(),
            "out_std": self.out_std.flatten().tolist(),
            "input_names": [*IPF_CHANNELS, "temperature", "temperature@t+1"],
            "output_names": list(IPF_CHANNELS),
        }


def run_window(model, norm: _Normaliser, window: torch.Tensor, first: int) -> list[torch.Tensor]:
    """Step the model through ``window`` (B, L, 10, H, W) from a zero state (teacher forcing).

    Returns the physical IPF predictions for frames ``first .. L-1``, each (B, 9, H, W).
    """
    states: list[torch.Tensor] = []
    preds = []
    for s in range(window.shape[1] - 1):
        x = torch.cat([window[:, s, 1:], window[:, s, :1], window[:, s + 1, :1]], dim=1)  # (B, 11, H, W)
        z, *states = model((x - norm.in_mean) / norm.in_std, *states)
        if s + 1 >= first:
            preds.append(z * norm.out_std + norm.out_mean)
    return preds


def _loss(preds, window, first: int, cfg: MeltRecipe, solidus: float, liquidus: float) -> torch.Tensor:
    total = window.new_zeros(())
    for k, pred in enumerate(preds):
        target = window[:, first + k]  # (B, 10, H, W)
        t_next = target[:, 0]
        solid = solid_mask(t_next, liquidus).unsqueeze(1)  # (B, 1, H, W)
        err = (pred - target[:, 1:]) ** 2
        mse = (err * solid).sum() / (solid.sum() * err.shape[1]).clamp_min(1.0)
        w = solidification_weights(t_next, solidus, liquidus, cfg.get("loss", "width", 0.1)).unsqueeze(1)
        w = w * solid
        weighted = (err * w).sum() / (w.sum() * err.shape[1]).clamp_min(1e-6)
        total = total + cfg.get("loss", "mse", 1.0) * mse + cfg.get("loss", "solidification", 1.0) * weighted
    return total / len(preds)


@torch.no_grad()
def evaluate_windows(model, norm, data: MeltWindows, split: str, first: int, limit=None, batch=16):
    """Front and overall MSE of ``model`` and of persistence on ``split`` (see :mod:`.melt_eval`)."""
    from fieldcast.engine.systems.melt_thermal import Material

    m = Material()
    model.eval()
    score = FrontScore()
    items = data.windows(split, limit)
    for i in range(0, len(items), batch):
        w = data.batch(items[i : i + batch])
        for k, pred in enumerate(run_window(model, norm, w, first)):
            t = first + k
            pred = pred * solid_mask(w[:, t, 0], m.liquidus).unsqueeze(1)  # liquid carries no orientation
            score.add(pred, w[:, t, 1:], w[:, t - 1, 1:], w[:, t, 0], m.solidus, m.liquidus)
    model.train()
    return score.result()


def train_melt(
    recipe: MeltRecipe, dataset: Any, run_dir: Path | None = None, token: CancelToken | None = None
) -> Iterator[Any]:
    """Train the microstructure model; yields events and ends with one :class:`FinishedEvent`."""
    from fieldcast.engine.systems.melt_thermal import Material

    token = token or CancelToken()
    mat = Material()
    torch.manual_seed(int(recipe.get("train", "seed", 0)))
    context, unroll = int(recipe.get("data", "context", 3)), int(recipe.get("data", "unroll", 1))
    data = MeltWindows(dataset, recipe.get("data", "split", [12, 6, 6]), context + unroll,
                       recipe.get("data", "crop_rows", None))  # fmt: skip
    norm = _Normaliser(data.stats())
    model = build_model("convlstm", {**recipe.model.get("args", {}), "in_channels": 11, "out_channels": 9})
    opt = torch.optim.Adam(model.parameters(), lr=float(recipe.get("optim", "lr", 1e-3)),
                           weight_decay=float(recipe.get("optim", "weight_decay", 0.0)))  # fmt: skip
    train_items = data.windows("train", recipe.get("data", "max_train_windows", None))
    if not train_items:
        raise ValueError(f"recipe {recipe.name}: no training windows of {context + unroll} frames")
    bs, epochs = int(recipe.get("data", "batch_size", 16)), int(recipe.get("train", "epochs", 10))
    total = epochs * math.ceil(len(train_items) / bs)
    gen = torch.Generator().manual_seed(int(recipe.get("train", "seed", 0)))
    sidecar = {"system": "melt", "kind": "melt-microstructure", "normalisation": norm.record(),
               "config": dataclasses.asdict(recipe), "history": 1, "dt": dataset.dt,
               "grid": list(data.trajectory(0).shape[-2:]), "solidus": mat.solidus, "liquidus": mat.liquidus,
               "data": {"path": str(getattr(dataset, "path", "")),
                        "hash": data_fingerprint(getattr(dataset, "path", None))}}  # fmt: skip
    if run_dir is not None:
        # The resolved recipe, so ``fieldcast export RUN`` recognises the run (``is_melt_run``).
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(dataclasses.asdict(recipe), sort_keys=False)
        (Path(run_dir) / "config.yaml").write_text(text, encoding="utf-8")
    step, best = 0, math.inf
    for epoch in range(epochs):
        t0, epoch_loss = time.monotonic(), 0.0
        order = torch.randperm(len(train_items), generator=gen).tolist()
        for i in range(0, len(order), bs):
            if token.cancelled:
                yield FinishedEvent("cancelled", epoch, step, run_dir, message="cancelled by the user")
                return
            w = data.batch([train_items[j] for j in order[i : i + bs]])
            loss = _loss(run_window(model, norm, w, context), w, context, recipe, mat.solidus, mat.liquidus)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if recipe.get("optim", "grad_clip", None):
                torch.nn.utils.clip_grad_norm_(model.parameters(), float(recipe.optim["grad_clip"]))
            opt.step()
            step += 1
            value = loss.item()
            epoch_loss += value
            yield StepEvent(epoch, step, value, opt.param_groups[0]["lr"])
            yield Progress("train", step, total, f"epoch {epoch + 1}/{epochs} loss {value:.4g}")
        n_batches = math.ceil(len(order) / bs)
        yield EpochEvent(
            epoch, step, epoch_loss / n_batches, opt.param_groups[0]["lr"], time.monotonic() - t0
        )
        metrics = evaluate_windows(model, norm, data, "valid", context,
                                   recipe.get("data", "max_valid_windows", None), bs)  # fmt: skip
        is_best = metrics["front_mse"] < best
        best = min(best, metrics["front_mse"])
        yield ValidationEvent(epoch, step, metrics, None, is_best)
        if run_dir is not None:
            record = {**sidecar, "step": step, "epoch": epoch, "metric": metrics}
            for tag in ("last", "best") if is_best else ("last",):
                path = save_checkpoint(Path(run_dir) / "checkpoints", tag, model, record)
                yield CheckpointEvent(tag, path, epoch, step)
    best_path = Path(run_dir) / "checkpoints" / "best.safetensors" if run_dir is not None else None
    yield FinishedEvent("completed", epochs, step, run_dir, best_path, best)


class _LiquidMask(torch.nn.Module):
    """The model with cells liquid at ``t+1`` forced to orientation 0, in normalised units (for export)."""

    def __init__(self, model: torch.nn.Module, norm: dict[str, list[float]], liquidus: float) -> None:
        super().__init__()
        self.model = model
        self.recurrent_states = model.recurrent_states
        self.grid_multiple = model.grid_multiple
        self.t_next = len(norm["in_mean"]) - 1  # T(t+1) is the last input channel
        self.threshold = (liquidus - norm["in_mean"][-1]) / norm["in_std"][-1]
        zero = [-m / s for m, s in zip(norm["out_mean"], norm["out_std"], strict=True)]
        self.register_buffer("zero", torch.tensor(zero, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y, *new = self.model(x, *states)  # (B, 9, H, W) normalised, then the (h, c) state
        liquid = x[:, self.t_next : self.t_next + 1] >= self.threshold  # (B, 1, H, W)
        return (torch.where(liquid, self.zero, y), *new)


def export_convlstm(weights: str | Path, out: str | Path) -> dict[str, Any]:
    """Export a microstructure checkpoint to one self-describing ONNX file with explicit recurrent state.

    Inputs ``fields`` = [ipf(t) ×9, temperature(t), temperature(t+1)] in physical units plus
    ``recurrent_in_0/1`` (h, c) at 1/8 resolution (zeros at the start); outputs ``next_fields`` (ipf(t+1))
    and ``recurrent_out_0/1``. Returns the parity against torch over a 3-step stream (max abs difference).
    """
    import onnx

    from fieldcast.engine.model_format import ModelInfo
    from fieldcast.engine.runtime import ModelSession
    from fieldcast.training.checkpoint import atomic_write, load_model
    from fieldcast.training.export_onnx import recurrent_states, set_metadata, to_onnx
    from fieldcast.training.rollout import SurrogateStep

    model, side = load_model(weights)
    norm = side["normalisation"]
    wrapped = _LiquidMask(model.eval(), norm, float(side["liquidus"]))
    step = SurrogateStep(wrapped, norm["in_mean"], norm["in_std"], norm["out_mean"], norm["out_std"]).eval()
    grid = tuple(side["grid"])
    controls = ["temperature", "temperature@t+1"]
    info = ModelInfo(
        system="melt",
        input_channels=tuple(norm["input_names"]),
        output_channels=tuple(norm["output_names"]),
        history=1,
        layout={
            "state": list(IPF_CHANNELS),
            "history_state": [],
            "controls": controls,
            "vectors": [],
            "solid": None,
            "nonnegative": list(IPF_CHANNELS),
        },  # fmt: skip
        input_units=("1",) * 9 + ("K", "K"),
        output_units=("1",) * 9,
        grid=grid,
        grid_multiple=wrapped.grid_multiple,
        dt=float(side.get("dt") or 1.0),
        time_units="s",
        provenance={"checkpoint": Path(weights).stem, "step": side.get("step"), "kind": side.get("kind")},
        metrics=dict(side.get("metric") or {}),
        model=dict(side["model"]),
        recurrent=recurrent_states(wrapped),
    )
    graph = set_metadata(to_onnx(step, grid, dynamic_grid=True), info)
    # The exporter restores its (fresh, training-mode) wrapper's mode on the whole tree; parity needs eval.
    step.eval()
    onnx.checker.check_model(graph)
    atomic_write(Path(out), graph.SerializeToString())
    return {"path": str(out), "max_abs_diff": _stream_parity(step, ModelSession(out), info, grid)}


@torch.no_grad()
def _stream_parity(step, session, info, grid: tuple[int, int]) -> float:
    """Max |onnx - torch| over three streamed steps on random physical inputs."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 11, *grid, generator=gen)
    x[:, 9:] = 300.0 + 2000.0 * x[:, 9:]  # temperatures in K, some above the liquidus
    states = [torch.zeros(r.shape(2, *grid)) for r in info.recurrent]
    feeds = {r.input: s.numpy() for r, s in zip(info.recurrent, states, strict=True)}
    worst = 0.0
    for _ in range(3):
        s = step
        z, *states = s.model((x - s.in_mean) / s.in_std, *states)
        ref = z * s.out_std + s.out_mean
        out = session.run({"fields": x.numpy(), **feeds})
        worst = max(worst, float(np.abs(out["next_fields"] - ref.numpy()).max()))
        feeds = {r.input: out[r.output].copy() for r in info.recurrent}
    return worst


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m fieldcast.training.melt_train RECIPE --data FILE [--out RUN_DIR]``."""
    from fieldcast.engine.data import open_dataset

    parser = argparse.ArgumentParser(prog="melt_train", description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--data", help="dataset file (default: the recipe's data.path)")
    parser.add_argument("--out", type=Path, help="run folder for checkpoints")
    args = parser.parse_args(argv)
    recipe = load_melt_recipe(_recipe_path(args.recipe))
    dataset = open_dataset(args.data or recipe.data["path"])
    for event in train_melt(recipe, dataset, args.out):
        if isinstance(event, ValidationEvent):
            m = event.metrics
            print(f"epoch {event.epoch}: front MSE {m['front_mse']:.4g} (persistence "
                  f"{m['persistence_front_mse']:.4g}), MSE {m['mse']:.4g} (persistence "
                  f"{m['persistence_mse']:.4g})", file=sys.stderr)  # fmt: skip
        elif isinstance(event, FinishedEvent):
            print(f"{event.status}: best front MSE {event.best_metric}", file=sys.stderr)
    return 0


def is_melt_recipe(name: str | Path) -> bool:
    """True when ``name`` (a path or packaged name) is a microstructure ConvLSTM recipe."""
    try:
        path = _recipe_path(str(name))
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return False
    model = data.get("model") if isinstance(data, dict) else None
    return isinstance(model, dict) and model.get("name") == "convlstm"


def run_if_melt_recipe(args: argparse.Namespace) -> int | None:
    """Hook for ``fieldcast train``: train a microstructure recipe and return the exit code, else None."""
    if not args.recipe or not is_melt_recipe(args.recipe):
        return None
    argv = [args.recipe]
    if args.data:
        argv += ["--data", args.data]
    if args.runs_dir:
        argv += ["--out", str(Path(args.runs_dir) / Path(args.recipe).stem)]
    return main(argv)


def is_melt_run(run: str | Path) -> bool:
    """True when the run folder holds a microstructure ConvLSTM."""
    config = Path(run) / "config.yaml"
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return False
    model = data.get("model") if isinstance(data, dict) else None
    return isinstance(model, dict) and model.get("name") == "convlstm"


def _recipe_path(name: str) -> Path:
    path = Path(name)
    if path.is_file():
        return path
    from fieldcast.resources import resource_path

    return resource_path("recipes") / "melt" / f"{name.removesuffix('.yaml')}.yaml"


if __name__ == "__main__":
    sys.exit(main())
