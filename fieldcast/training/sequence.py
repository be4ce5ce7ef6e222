"""Training for sequence systems (``trajectory``): windows of a time series, an LSTM, a generator loop.

The rollout trainer (:mod:`fieldcast.training.trainer`) is built around 2D fields; a sequence system needs
only windows ``[seq_len, inputs] → [seq_len, targets]``, so this module has its own small loop yielding the
same events (:class:`StepEvent`, :class:`EpochEvent`, :class:`ValidationEvent`, :class:`CheckpointEvent`,
:class:`FinishedEvent`, and :class:`Progress`). Checkpoints use :mod:`fieldcast.training.checkpoint`, with the
normalisation in the sidecar. Validation streams whole trajectories through the model from a zero state,
exactly as the exported streaming predictor runs, and reports micrometre metrics.

Run as ``python -m fieldcast.training.sequence RECIPE --data FILE [--out RUN_DIR]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
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

from fieldcast.engine.jobs import Cancelled, CancelToken, Progress
from fieldcast.training.checkpoint import save_checkpoint
from fieldcast.training.events import CheckpointEvent, EpochEvent, FinishedEvent, StepEvent, ValidationEvent
from fieldcast.training.losses import hybrid
from fieldcast.training.models import build_model
from fieldcast.training.models import lstm as _lstm  # noqa: F401  (registers the "lstm" family)
from fieldcast.training.trajectory_eval import error_metrics

__all__ = ["SequenceData", "SequenceRecipe", "load_sequence_recipe", "predict_stream", "train_sequence"]


@dataclass
class SequenceRecipe:
    """A sequence-training recipe (YAML sections ``data``, ``model``, ``loss``, ``optim``, ``train``)."""

    name: str = "sequence"
    description: str = ""
    system: str = "trajectory"
    data: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=lambda: {"name": "lstm", "args": {}})
    loss: dict[str, Any] = field(default_factory=dict)
    optim: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)

    _DEFAULTS = {
        "data": {"path": None, "seq_len": 50, "stride": 10, "warmup": 10, "batch_size": 128},
        "loss": {"alpha": 0.7},
        "optim": {"lr": 1e-3, "weight_decay": 1e-4, "grad_clip": 1.0},
        "train": {"epochs": 5, "seed": 0, "amp": False, "accumulation": 1, "max_steps": 0},
    }

    def __post_init__(self) -> None:
        for section, defaults in self._DEFAULTS.items():
            given = getattr(self, section) or {}
            unknown = sorted(set(given) - set(defaults))
            if unknown:
                raise ValueError(f"recipe {self.name}: unknown key(s) {section}.{', '.join(unknown)}")
            setattr(self, section, {**defaults, **given})
        if self.data["warmup"] >= self.data["seq_len"]:
            raise ValueError(f"recipe {self.name}: data.warmup must be below data.seq_len")


def is_sequence_recipe(path: str | Path) -> bool:
    """True when ``path`` names a recipe file for a sequence system (``system: trajectory``)."""
    p = Path(path)
    if not p.is_file():
        from fieldcast.training.config import RecipeError, resolve_recipe_path

        try:
            p = resolve_recipe_path(str(path))
        except RecipeError:
            return False
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("system") == "trajectory"


def load_sequence_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> SequenceRecipe:
    """Read a sequence recipe (a path or packaged name); ``overrides`` like ``{"train.epochs": 2}``."""
    p = Path(path)
    if not p.is_file():
        from fieldcast.training.config import resolve_recipe_path

        p = resolve_recipe_path(str(path))
    from fieldcast.training.config import RecipeError

    data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise RecipeError(f"{p}: a recipe is a mapping of sections, not {type(data).__name__}")
    for key, value in (overrides or {}).items():
        section, _, leaf = key.partition(".")
        if not leaf:
            raise RecipeError(f"--set {key}: give SECTION.KEY, e.g. train.epochs")
        data.setdefault(section, {})[leaf] = value
    data.setdefault("name", p.stem)
    known = {f.name for f in dataclasses.fields(SequenceRecipe)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RecipeError(f"{p}: unknown section(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    try:
        return SequenceRecipe(**data)
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"{p}: {exc}") from exc


class SequenceData:
    """Whole trajectories of one split as arrays: ``inputs`` list of (T, 4), ``targets`` list of (T, 2)."""

    def __init__(self, path: str | Path, split: str) -> None:
        from fieldcast.engine.data import open_dataset

        with open_dataset(path) as ds:
            spec = ds.spec
            names = ds.channel_names
            self.input_names = list(spec.extra.get("inputs", ["x_ref", "y_ref", "vx_ref", "vy_ref"]))
            self.target_names = list(spec.extra.get("targets", ["error_x", "error_y"]))
            i_in = [names.index(n) for n in self.input_names]
            i_out = [names.index(n) for n in self.target_names]
            self.inputs, self.targets = [], []
            for traj, start, stop in ds.split_segments(split):
                w = ds.read_window(traj, start, stop - start)[:, :, 0, 0].astype(np.float64)  # (T, C)
                self.inputs.append(w[:, i_in])
                self.targets.append(w[:, i_out])
            self.dt = ds.dt

    def normalisation(self) -> dict[str, list[float]]:
        x, y = np.concatenate(self.inputs), np.concatenate(self.targets)
        return {
            "in_mean": x.mean(0).tolist(),
            "in_std": np.maximum(x.std(0), 1e-6).tolist(),
            "out_mean": y.mean(0).tolist(),
            "out_std": np.maximum(y.std(0), 1e-6).tolist(),
        }

    def windows(self, seq_len: int, stride: int, norm: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """All windows, normalised: (N, seq_len, 4) and (N, seq_len, 2) float32."""
        xs, ys = [], []
        for x, y in zip(self.inputs, self.targets, strict=True):
            for s in range(0, x.shape[0] - seq_len + 1, stride):
                xs.append(x[s : s + seq_len])
                ys.append(y[s : s + seq_len])
        if not xs:
            raise ValueError(
                f"no windows of {seq_len} samples: trajectories are too short or the split is empty"
            )
        xn = (np.stack(xs) - norm["in_mean"]) / norm["in_std"]
        yn = (np.stack(ys) - norm["out_mean"]) / norm["out_std"]
        return torch.as_tensor(xn, dtype=torch.float32), torch.as_tensor(yn, dtype=torch.float32)


@torch.no_grad()
def predict_stream(model: torch.nn.Module, inputs: np.ndarray, norm: dict) -> np.ndarray:
    """Errors (T, 2) in target units for one whole trajectory (T, 4), streamed from a zero state."""
    model.eval()
    x = (np.asarray(inputs, np.float64) - norm["in_mean"]) / norm["in_std"]
    y = model(torch.as_tensor(x, dtype=torch.float32)[None])[0].double().numpy()  # (T, 2)
    return y * np.asarray(norm["out_std"]) + np.asarray(norm["out_mean"])


def _validate(model, data: SequenceData, norm: dict) -> dict[str, float]:
    preds = [predict_stream(model, x, norm) for x in data.inputs]
    return error_metrics(np.concatenate(preds), np.concatenate(data.targets))


def train_sequence(
    recipe: SequenceRecipe,
    data_path: str | Path,
    run_dir: str | Path | None = None,
    cancel: CancelToken | None = None,
    model: torch.nn.Module | None = None,
) -> Iterator[Any]:
    """Train ``recipe`` on the dataset ``data_path``; a generator of training events.

    ``model`` (built from the recipe when None) is trained in place, so a caller that passes one keeps it.

    Checkpoints (``best``, ``last``), ``config.yaml`` and ``metrics.jsonl`` go to ``run_dir`` when given.
    The ``best`` checkpoint is the one with the lowest validation RMSE (µm).
    """
    cancel = cancel or CancelToken()
    d, tr, opt = recipe.data, recipe.train, recipe.optim
    torch.manual_seed(int(tr["seed"]))
    gen = torch.Generator().manual_seed(int(tr["seed"]))
    train, val = SequenceData(data_path, "train"), SequenceData(data_path, "valid")
    if not val.inputs:
        val = train  # tiny datasets: validate on the training trajectories rather than not at all
    norm = train.normalisation()
    xw, yw = train.windows(int(d["seq_len"]), int(d["stride"]), norm)
    if model is None:
        model = build_model(recipe.model.get("name", "lstm"), dict(recipe.model.get("args") or {}))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=float(opt["lr"]), weight_decay=float(opt["weight_decay"])
    )
    run = Path(run_dir) if run_dir else None
    metrics_file = None
    if run is not None:
        run.mkdir(parents=True, exist_ok=True)
        (run / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(recipe), sort_keys=False))
        metrics_file = (run / "metrics.jsonl").open("a", encoding="utf-8")
    batch, accum, warm = int(d["batch_size"]), max(1, int(tr["accumulation"])), int(d["warmup"])
    steps_per_epoch = math.ceil(xw.shape[0] / (batch * accum))
    total = int(tr["epochs"]) * steps_per_epoch
    if tr["max_steps"]:
        total = min(total, int(tr["max_steps"]))
    yield Progress("train", 0, total, f"{xw.shape[0]} windows of {d['seq_len']} samples")
    step, best, best_path, status, epoch = 0, math.inf, None, "completed", 0

    def record(rec: dict) -> None:
        if metrics_file is not None:
            metrics_file.write(json.dumps(rec) + "\n")
            metrics_file.flush()

    try:
        for epoch in range(int(tr["epochs"])):
            t0, losses = time.perf_counter(), []
            model.train()
            order = torch.randperm(xw.shape[0], generator=gen)
            for s in range(steps_per_epoch):
                cancel.raise_if_cancelled()
                optimizer.zero_grad(set_to_none=True)
                idx_all = order[s * batch * accum : (s + 1) * batch * accum]
                loss_sum = 0.0
                for idx in idx_all.split(batch):
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(tr["amp"])):
                        pred = model(xw[idx])
                    # The first `warmup` samples only settle the zero initial state; they carry no loss.
                    loss = hybrid(pred[:, warm:].float(), yw[idx, warm:], alpha=float(recipe.loss["alpha"]))
                    (loss / accum).backward()
                    loss_sum += float(loss.detach()) / accum
                if not math.isfinite(loss_sum):
                    status = "diverged"
                    break
                torch.nn.utils.clip_grad_norm_(model.parameters(), float(opt["grad_clip"]))
                optimizer.step()
                step += 1
                losses.append(loss_sum)
                yield StepEvent(epoch, step, loss_sum, float(opt["lr"]))
                yield Progress("train", step, total)
                if step >= total:
                    break
            if status == "diverged":
                break
            model.sequence_normalisation = norm  # travels with the model for evaluation and export
            mean_loss = float(np.mean(losses)) if losses else float("nan")
            yield EpochEvent(epoch, step, mean_loss, float(opt["lr"]), time.perf_counter() - t0)
            metrics = _validate(model, val, norm)
            is_best = metrics["rmse_um"] < best
            record(
                {
                    "epoch": epoch,
                    "step": step,
                    "train_loss": mean_loss,
                    **{f"val/{k}": v for k, v in metrics.items()},
                }
            )
            yield ValidationEvent(epoch, step, metrics, is_best=is_best)
            if run is not None:
                sidecar = {"step": step, "epoch": epoch, "normalisation": norm, "system": recipe.system,
                           "inputs": train.input_names, "targets": train.target_names, "dt": train.dt,
                           "metric": metrics["rmse_um"], "data": {"path": str(data_path)}}  # fmt: skip
                for tag in ("last", "best") if is_best else ("last",):
                    path = save_checkpoint(run / "checkpoints", tag, model, sidecar)
                    yield CheckpointEvent(tag, path, epoch, step)
                    best_path = path if tag == "best" else best_path
            if is_best:
                best = metrics["rmse_um"]
            if step >= total:
                break
    except Cancelled:
        status = "cancelled"
    finally:
        if metrics_file is not None:
            metrics_file.close()
    model.eval()
    yield FinishedEvent(status, epoch, step, run, best_path, None if math.isinf(best) else best)


def main(argv: list[str] | None = None) -> int:
    """``python -m fieldcast.training.sequence RECIPE --data FILE [--out RUN_DIR] [--set key=value]``."""
    parser = argparse.ArgumentParser(prog="python -m fieldcast.training.sequence", description=__doc__)
    parser.add_argument("recipe")
    parser.add_argument("--data", required=True, help="trajectory dataset (.h5)")
    parser.add_argument("--out", help="run folder for checkpoints and metrics")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        overrides = {k: yaml.safe_load(v) for k, _, v in (s.partition("=") for s in args.overrides)}
        recipe = load_sequence_recipe(args.recipe, overrides)
        finished = None
        for event in train_sequence(recipe, args.data, args.out):
            if isinstance(event, ValidationEvent):
                m = event.metrics
                best = " (best)" if event.is_best else ""
                line = f"val rmse {m['rmse_um']:.2f} µm, mae {m['mae_um']:.2f} µm, r2 {m['r2']:.3f}{best}"
                print(f"epoch {event.epoch + 1}: {line}", file=sys.stderr)
            elif isinstance(event, FinishedEvent):
                finished = event
    except (ValueError, OSError) as exc:
        print(f"fieldcast train: {exc}", file=sys.stderr)
        return 2
    print(f"finished: {finished.status} at step {finished.step}", file=sys.stderr)
    return 0 if finished.status == "completed" else 1


def run_if_sequence_recipe(args: argparse.Namespace) -> int | None:
    """Hook for ``fieldcast train``: train a sequence recipe and return the exit code, else None."""
    if not args.recipe or not is_sequence_recipe(args.recipe) or not args.data:
        return None
    argv = [args.recipe, "--data", args.data]
    if args.runs_dir:
        argv += ["--out", str(Path(args.runs_dir) / Path(args.recipe).stem)]
    for item in args.overrides:
        argv += ["--set", item]
    return main(argv)


if __name__ == "__main__":
    sys.exit(main())
