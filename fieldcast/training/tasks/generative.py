"""Generative: one target map from condition maps, by conditional diffusion or by plain regression.

The data are (condition, target) pairs: every frame of every trajectory is one pair. The fields with role
``conditioning`` are the condition (``generative.condition_channels`` picks some), the one ``state`` field is
the target. Every map is scaled by its train-split range to [-1, 1] (the pixel range of image diffusion):
sparse maps, a small melt pool on a cold plate or a received power mostly at its noise floor, would reach
tens of standard deviations under mean/std scaling and swamp the unit-variance noise of the schedule.

``generative.objective``:

- ``diffusion`` (model ``diffusion_unet``): DDPM training with Ho et al.'s ``L_simple``: a timestep ``t``
  uniform in ``0 .. timesteps-1``, ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` and the MSE between the
  network output and its target, ``v = sqrt(abar) eps - sqrt(1 - abar) x_0`` (``prediction: v``, the
  default) or ``eps``. Schedule ``cosine`` (default) or ``linear``
  (:mod:`fieldcast.engine.generative_schedule`), shared with the engine so training and Play sample alike.
  Validation draws DDIM samples (``sample_steps``, ``eta = 0``, noise from numpy's ``default_rng(seed)`` as
  the engine does).
- ``diffusion`` with ``generative.mean_model`` (an exported regression model): regression + diffusion
  correction. The diffusion model generates the residual ``target - mean`` (``mean`` the regression model's
  answer, computed once per pair by the engine's session of that file), conditioned on the condition maps
  and on ``mean`` (one more input channel, scaled like the target); the residual is scaled by its own
  train-split standard deviation (``residual_scale: std``, the default) or range (``range``, to [-1, 1]).
  A residual is mostly small with a few large misses; scaled to unit variance, the network's own error
  floor is a small fraction of the residual's typical size, where the range scaling makes it a fraction of
  the largest miss. A sample is ``mean`` plus a generated residual, so the diffusion model's
  errors are scaled down with the residual's (small) range. The export carries the regression model inside
  the same file.
- ``generative.rays: [mask, source]`` (two condition channels, e.g. ``[buildings, transmitter]``): three
  more condition channels computed inside the network from the physical maps by
  :func:`fieldcast.training.models.rays.ray_features`: the log distance from the source's peak, the mask
  edges crossed by the straight ray from it and the ray's length inside the mask. A direct radio path loses
  power with each of the three, which a UNet would otherwise have to discover by integrating along rays.
- ``generative.weighting: map``: each pair's loss is divided by its truth's mean square on [0, 1] of the
  target range (the denominator of that map's NMSE), relative to the training pairs' mean and at most
  ``MAX_MAP_WEIGHT``, so maps with little signal count as much in training as in the mean NMSE.
- ``generative.symmetry: d4`` (square grids whose physics has no preferred direction, like the radio
  model's): each training batch is turned by one of the square's 8 rotations and reflections, drawn at
  random, and a regression model answers with the mean of its answers to all 8 turned conditions, turned
  back (:func:`dihedral`); the exported network does the same, in one batch of 8.
- ``regression``: the deterministic baseline. The same ``diffusion_unet`` network with ``noise_input``
  false (no noisy input, no timestep) trained with plain MSE on the normalised target, so what diffusion
  adds is measured against an identical network.

Validation (monitor ``nmse``) scores ``valid_conditions`` validation conditions against their truth on maps
scaled to [0, 1] by the target's training range (:mod:`fieldcast.engine.generative_metrics`): ``nmse``,
``ssim``, ``psnr_db``, and ``rmse`` in the target's units, beside the train-mean map (``mean_nmse``,
``mean_ssim``: the baseline any model must beat). ``loss`` is the training loss on the validation pairs with
fixed timesteps and noise.

Run-folder records for the Train panel (``metrics.jsonl``, after each ``validation`` record):

- ``{"kind": "timestep_loss", "bins": [edges, len n+1], "values": [mean loss per bin, len n],
  "counts": [pairs per bin]}``: the validation loss by diffusion timestep (diffusion runs only);
- ``{"kind": "generative_samples", "path": "samples/generative_epoch_NNNN.npz", "pairs": n,
  "samples": s, "nmse": ..., "ssim": ...}`` pointing at an ``.npz`` (``np.load(..., allow_pickle=False)``)
  with arrays ``condition`` (C, nx, ny), ``truth`` (nx, ny) and ``samples`` (s, nx, ny): several samples of
  one condition; ``conditions`` (n, C, nx, ny), ``truths`` (n, nx, ny), ``predictions`` (n, nx, ny): one
  sample of each validation condition (the generated-vs-truth pairs); ``condition_names`` and
  ``target_name`` (strings), ``units`` (the target's), ``step`` and ``epoch`` (int64). All maps are in
  physical units; a regression run's samples are its one answer repeated.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fieldcast.engine import generative_metrics as gm
from fieldcast.engine import generative_schedule as gs
from fieldcast.engine.evaluate_generative import score as score_maps
from fieldcast.engine.limits import format_bytes, memory_budget
from fieldcast.training.models import build_model
from fieldcast.training.models.rays import RAY_FEATURES, ray_features
from fieldcast.training.tasks.base import Samples, Task, register_task

__all__ = ["GenerativeStep", "GenerativeTask", "clip_bounds", "ddim_sample", "dihedral"]

_LOSS_SEED = 1234  # fixed timesteps and noise of the validation loss
MAX_MAP_WEIGHT = 10.0  # weighting: map caps a pair's weight at this multiple of the mean pair's


def dihedral(x: torch.Tensor, k: int, inverse: bool = False) -> torch.Tensor:
    """Element ``k`` (0..7) of the square's symmetry group applied to the last two axes of ``x``: flip the
    first axis if bit 0 is set, the second if bit 1, then transpose if bit 2; ``inverse`` undoes it."""
    dims = [d for bit, d in ((1, -2), (2, -1)) if k & bit]
    if not inverse:
        x = x.flip(dims) if dims else x
        return x.transpose(-2, -1) if k & 4 else x
    x = x.transpose(-2, -1) if k & 4 else x
    return x.flip(dims) if dims else x


class GenerativeStep(nn.Module):
    """The network with normalisation: what the loop trains and what is exported.

    Diffusion: ``forward(x_t, t, condition) -> (prediction, x0)``, with ``x_t`` and ``prediction`` in the
    normalised target space and ``x0`` (the clean map implied by the prediction) and ``condition`` in
    physical units. Residual diffusion: ``forward(x_t, t, condition, mean) -> (prediction, x0)`` with
    ``x_t`` and ``prediction`` in the normalised residual space, ``mean`` the regression answer and ``x0``
    the answer plus the implied residual, physical. Regression: ``forward(condition) -> x0`` in physical
    units.
    """

    def __init__(self, model: nn.Module, norm: dict[str, Any], gen: dict[str, Any]) -> None:
        super().__init__()
        self.model = model
        self.diffusion = gen["objective"] == "diffusion"
        self.prediction = str(gen.get("prediction", "v"))
        self.residual = bool(gen.get("residual", False))
        self.rays = [int(i) for i in gen["rays"]] if gen.get("rays") else None
        self.symmetric = gen.get("symmetry", "none") == "d4"
        c = len(norm["condition_mean"])
        self.register_buffer(
            "c_mean", torch.tensor(norm["condition_mean"], dtype=torch.float32).view(1, c, 1, 1)
        )
        self.register_buffer(
            "c_std", torch.tensor(norm["condition_std"], dtype=torch.float32).view(1, c, 1, 1)
        )
        # y_mean / y_std scale what the network generates: the target, or a residual model's residual
        key = "residual_" if self.residual else "target_"
        self.register_buffer("y_mean", torch.tensor(float(norm[key + "mean"])).view(1, 1, 1, 1))
        self.register_buffer("y_std", torch.tensor(float(norm[key + "std"])).view(1, 1, 1, 1))
        self.register_buffer("t_mean", torch.tensor(float(norm["target_mean"])).view(1, 1, 1, 1))
        self.register_buffer("t_std", torch.tensor(float(norm["target_std"])).view(1, 1, 1, 1))
        ab = gs.alpha_bar(gen.get("schedule", "cosine"), int(gen.get("timesteps", 1000)))
        self.register_buffer("alpha_bar", torch.tensor(ab, dtype=torch.float32))

    def _condition(self, condition: torch.Tensor) -> torch.Tensor:
        """The network's condition channels: the scaled maps, then the ray features when asked for."""
        c = (condition - self.c_mean) / self.c_std
        if self.rays is None:
            return c
        m, s = self.rays
        return torch.cat([c, ray_features(condition[:, m : m + 1], condition[:, s : s + 1])], 1)

    def _symmetric_answer(self, condition: torch.Tensor) -> torch.Tensor:
        """The mean of the answers to the 8 turned conditions, each turned back (one batch of 8 B)."""
        b = condition.shape[0]
        turned = torch.cat([dihedral(condition, k) for k in range(8)], 0)
        out = self.model(self._condition(turned)) * self.y_std + self.y_mean
        back = [dihedral(out[k * b : (k + 1) * b], k, inverse=True) for k in range(8)]
        return torch.stack(back, 0).mean(0)

    def forward(self, *args: torch.Tensor):
        if not self.diffusion:
            (condition,) = args
            if self.symmetric and not self.training:
                return self._symmetric_answer(condition)
            return self.model(self._condition(condition)) * self.y_std + self.y_mean
        if self.residual:
            x_t, t, condition, mean = args
            c = torch.cat([self._condition(condition), (mean - self.t_mean) / self.t_std], 1)
        else:
            x_t, t, condition = args
            c, mean = self._condition(condition), None
        out = self.model(c, x_t, t)
        ab = self.alpha_bar[t.long()].view(-1, 1, 1, 1)
        x0, _ = gs.split_prediction(x_t, out, ab, self.prediction)
        x0 = x0 * self.y_std + self.y_mean
        return out, x0 if mean is None else x0 + mean


def clip_bounds(norm: dict[str, Any]) -> tuple[float, float]:
    """Normalised bounds of x0 estimates: the target's (a residual model's: the residual's) training range
    widened by 10 % on each side (a clip at the range itself moves the clipped excess into the noise estimate
    and biases flat backgrounds)."""
    key = "residual_" if "residual_range" in norm else "target_"
    lo, hi = norm[key + "range"]
    m, s = norm[key + "mean"], norm[key + "std"]
    margin = 0.1 * (hi - lo)
    return (lo - margin - m) / s, (hi + margin - m) / s


@torch.no_grad()
def ddim_sample(
    step: GenerativeStep,
    condition: torch.Tensor,
    norm: dict,
    steps: int,
    seed: int = 0,
    eta: float = 0.0,
    mean: torch.Tensor | None = None,
) -> np.ndarray:
    """DDIM samples (n, nx, ny) in physical units for conditions (n, C, nx, ny), physical units.

    A residual model needs ``mean`` (n, 1, nx, ny), its regression answers. The same arithmetic and the
    same noise (numpy ``default_rng(seed)``) as the engine's session.
    """
    dev = condition.device
    n, _, nx, ny = condition.shape
    if not step.diffusion:
        return step(condition)[:, 0].double().cpu().numpy()
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.standard_normal((n, 1, nx, ny)).astype(np.float32)).to(dev)
    table = step.alpha_bar.double().cpu().numpy()
    lo, hi = clip_bounds(norm)
    extra = (mean,) if step.residual else ()
    ts = gs.ddim_timesteps(len(table), steps)
    for k, t in enumerate(ts):
        ab = float(table[t])
        ab_prev = float(table[ts[k + 1]]) if k + 1 < len(ts) else 1.0
        out, _ = step(x, torch.full((n,), float(t), device=dev), condition, *extra)
        x0, _ = gs.split_prediction(x.double(), out.double(), ab, step.prediction)
        x0 = x0.clamp(lo, hi)
        eps = (x.double() - ab**0.5 * x0) / (1.0 - ab) ** 0.5
        noise = torch.from_numpy(rng.standard_normal(x.shape)).to(dev) if eta > 0 else None
        x = gs.ddim_step(x0, eps, ab, ab_prev, eta, noise).float()
    key = "residual_" if step.residual else "target_"
    y = x[:, 0].double() * float(norm[key + "std"]) + float(norm[key + "mean"])
    if step.residual:
        y = y + mean[:, 0].double()
    return y.cpu().numpy()


@register_task
class GenerativeTask(Task):
    name = "generative"
    monitor = "nmse"

    def __init__(self, recipe, dataset) -> None:
        super().__init__(recipe, dataset)
        g, names = recipe.generative, list(dataset.channel_names)
        self.condition_names = list(g.condition_channels or self.spec.channel_names("conditioning"))
        state = self.spec.channel_names("state")
        if g.target is None and len(state) != 1:
            raise self.fail(f"a generative model needs exactly one state channel, the data has {state}")
        self.target_name = g.target or state[0]
        for n in [*self.condition_names, self.target_name]:
            if n not in names:
                raise self.fail(f"channel {n!r} is not one of {', '.join(names)}")
        if not self.condition_names:
            raise self.fail("no conditioning channels (set generative.condition_channels)")
        self.gen = {
            "objective": g.objective,
            "prediction": g.prediction,
            "schedule": g.schedule,
            "timesteps": g.timesteps,
            "sample_steps": g.sample_steps,
            "source": str((self.spec.extra or {}).get("source", "")),
        }
        if g.rays is not None:
            if len(g.rays) != 2 or any(n not in self.condition_names for n in g.rays):
                raise self.fail(
                    f"generative.rays names [mask, source], two of the condition channels "
                    f"({', '.join(self.condition_names)}); got {g.rays}"
                )
            self.gen["rays"] = [self.condition_names.index(n) for n in g.rays]
        if g.symmetry != "none":
            self.gen["symmetry"] = g.symmetry
        self.norm = self._normalisation()
        self.train_c, self.train_y = self._read("train", recipe.data.max_train_windows)
        if len(self.train_y) == 0:
            raise self.fail(f"no training pairs ({dataset.split_note})")
        self.valid_c, self.valid_y = self._read("valid", recipe.data.max_valid_windows)
        self.train_m = self.valid_m = None
        tensors = [self.train_c, self.train_y]
        if g.mean_model:
            self._residual(g.mean_model)
            tensors.append(self.train_m)
        if g.symmetry == "d4" and self.dataset.grid[0] != self.dataset.grid[1]:
            raise self.fail(f"generative.symmetry d4 needs a square grid, the data is {self.dataset.grid}")
        self._energy_mean = None
        if g.weighting == "map":
            self._energy_mean = float(self._energy(self.train_y).mean())
        self.train_set = torch.utils.data.TensorDataset(*tensors)
        self.mean_map = self.train_y[:, 0].double().mean(0).numpy()
        self._last: dict[str, Any] | None = None

    # ------------------------------------------------------------ data

    def _normalisation(self) -> dict[str, Any]:
        stats, names = self.dataset.stats, list(self.dataset.channel_names)
        ci = [names.index(n) for n in self.condition_names]
        ti = names.index(self.target_name)
        lo, hi = float(stats["min"][ti]), float(stats["max"][ti])
        if not hi > lo:
            hi = lo + 1.0
        c_lo, c_hi = np.asarray(stats["min"], np.float64)[ci], np.asarray(stats["max"], np.float64)[ci]
        return {
            "condition_mean": ((c_lo + c_hi) / 2).tolist(),
            "condition_std": np.maximum((c_hi - c_lo) / 2, 1e-6).tolist(),
            "target_mean": (lo + hi) / 2,
            "target_std": (hi - lo) / 2,
            "target_range": [lo, hi],
            "condition_names": self.condition_names,
            "target_name": self.target_name,
        }

    def _read(self, split: str, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        """All pairs of ``split`` in memory: conditions (N, C, nx, ny), targets (N, 1, nx, ny), physical."""
        ds, names = self.dataset, list(self.dataset.channel_names)
        ci = [names.index(n) for n in self.condition_names]
        ti = names.index(self.target_name)
        segments = ds.split_segments(split)
        total = sum(stop - start for _, start, stop in segments)
        total = min(total, limit) if limit else total
        nx, ny = ds.grid
        need = total * (len(ci) + 1) * nx * ny * 4
        if need > memory_budget():
            raise self.fail(
                f"the {split} split's {total} pairs need {format_bytes(need)}, over the memory budget of "
                f"{format_bytes(memory_budget())}; cap them with data.max_train_windows / max_valid_windows"
            )
        conds, targets, have = [], [], 0
        for traj, start, stop in segments:
            if have >= total:
                break
            length = min(stop - start, total - have)
            w = ds.read_window(traj, start, length)  # (T, C_all, nx, ny)
            conds.append(w[:, ci])
            targets.append(w[:, ti : ti + 1])
            have += length
        if not conds:
            return torch.zeros(0, len(ci), nx, ny), torch.zeros(0, 1, nx, ny)
        return torch.from_numpy(np.concatenate(conds)), torch.from_numpy(np.concatenate(targets))

    def _residual(self, mean_model: str) -> None:
        """Regression answers of every pair from ``mean_model`` and the residual's normalisation."""
        import hashlib

        from fieldcast.engine.generative import GenerativeSession
        from fieldcast.engine.runtime import ModelError
        from fieldcast.resources import resource_path

        if self.gen["objective"] != "diffusion":
            raise self.fail("generative.mean_model needs objective: diffusion (it corrects a regression)")
        path = Path(mean_model).expanduser()
        if not path.is_file() and path.name == mean_model:
            path = resource_path("models") / mean_model  # a shipped model by its file name
        try:
            session = GenerativeSession(path, threads=1)
        except ModelError as exc:
            raise self.fail(f"generative.mean_model: {exc}") from None
        info = session.info
        if info.is_diffusion:
            raise self.fail(f"generative.mean_model: {path} is a diffusion model, not a regression one")
        if list(info.condition_channels) != self.condition_names or info.target != self.target_name:
            raise self.fail(
                f"generative.mean_model: {path} maps {', '.join(info.condition_channels)} -> {info.target}, "
                f"this run {', '.join(self.condition_names)} -> {self.target_name}"
            )
        if tuple(info.grid) != tuple(self.dataset.grid):
            raise self.fail(
                f"generative.mean_model: {path} runs on {info.grid}, the data is {self.dataset.grid}"
            )

        def answers(cond: torch.Tensor) -> torch.Tensor:
            out = [session.predict(cond[i : i + 32].numpy()) for i in range(0, len(cond), 32)]
            return torch.from_numpy(np.concatenate(out)) if out else torch.zeros(0, 1, *self.dataset.grid)

        self.train_m, self.valid_m = answers(self.train_c), answers(self.valid_c)
        r = (self.train_y - self.train_m).double()
        lo, hi = float(r.min()), float(r.max())
        if not hi > lo:
            hi = lo + 1e-6
        if self.recipe.generative.residual_scale == "std":
            centre, scale = float(r.mean()), max(float(r.std()), (hi - lo) * 1e-6)
        else:
            centre, scale = (lo + hi) / 2, (hi - lo) / 2
        self.norm.update(residual_mean=centre, residual_std=scale, residual_range=[lo, hi])
        blob = path.read_bytes()
        self.gen.update(
            residual=True,
            mean_model={"path": str(path.resolve()), "sha256": hashlib.sha256(blob).hexdigest()},
        )

    # ------------------------------------------------------------ model

    def build_model(self) -> nn.Module:
        if self.recipe.model.name != "diffusion_unet":
            raise ValueError("the generative task trains diffusion_unet (noise_input off for regression)")
        args = {
            **self.recipe.model.args,
            "in_channels": len(self.condition_names)
            + (len(RAY_FEATURES) if self.gen.get("rays") else 0)
            + (1 if self.gen.get("residual") else 0),
            "out_channels": 1,
            "grid": list(self.dataset.grid),
            "noise_input": self.gen["objective"] == "diffusion",
        }
        return build_model(self.recipe.model.name, args)

    def wrap(self, model: nn.Module) -> nn.Module:
        return GenerativeStep(model, self.norm, self.gen)

    # ------------------------------------------------------------ learning

    def _diffusion_terms(self, module, cond, target, gen: torch.Generator | None = None, mean=None):
        """Per-pair loss (B,) and timesteps (B,) of the diffusion objective (``mean``: residual models)."""
        inner = getattr(module, "module", module)
        extra = (mean,) if inner.residual else ()
        y0 = ((target - mean if inner.residual else target) - inner.y_mean) / inner.y_std
        n, dev = y0.shape[0], y0.device
        if gen is None:
            t = torch.randint(0, len(inner.alpha_bar), (n,), device=dev)
            eps = torch.randn_like(y0)
        else:
            t = torch.randint(0, len(inner.alpha_bar), (n,), generator=gen).to(dev)
            eps = torch.randn(y0.shape, generator=gen).to(dev)
        ab = inner.alpha_bar[t].view(-1, 1, 1, 1)
        x_t = ab.sqrt() * y0 + (1.0 - ab).sqrt() * eps
        out, _ = module(x_t, t.float(), cond, *extra)
        goal = gs.v_target(y0, eps, ab) if inner.prediction == "v" else eps
        return ((out.float() - goal) ** 2).mean(dim=(1, 2, 3)), t

    def _energy(self, target: torch.Tensor) -> torch.Tensor:
        """Each map's mean square on [0, 1] of the target range (B,): the denominator of its NMSE."""
        lo, hi = self.norm["target_range"]
        return (((target.double() - lo) / (hi - lo)) ** 2).mean(dim=(1, 2, 3))

    def _weights(self, target: torch.Tensor) -> torch.Tensor | None:
        if self._energy_mean is None:
            return None
        w = self._energy_mean / self._energy(target).clamp_min(self._energy_mean / MAX_MAP_WEIGHT)
        return w.to(target.device, torch.float32)

    def loss(self, module, batch):
        cond, target, *mean = batch
        if self.recipe.generative.symmetry == "d4":
            k = int(torch.randint(0, 8, ()))
            cond, target = dihedral(cond, k), dihedral(target, k)
            mean = [dihedral(m, k) for m in mean]
        if self.gen["objective"] == "diffusion":
            per, _ = self._diffusion_terms(module, cond, target, mean=mean[0] if mean else None)
        else:
            inner = getattr(module, "module", module)
            per = (((module(cond).float() - target) / inner.y_std) ** 2).mean(dim=(1, 2, 3))
        w = self._weights(target)
        return (per.mean() if w is None else (per * w).mean()), {}

    def has_validation(self) -> bool:
        return len(self.valid_y) > 0

    @torch.no_grad()
    def validate(self, module, device) -> dict[str, float]:
        g = self.recipe.generative
        out: dict[str, float] = {}
        losses, times = [], []
        gen = torch.Generator().manual_seed(_LOSS_SEED)
        bs = self.recipe.data.batch_size
        for i in range(0, len(self.valid_y), bs):
            cond, target = self.valid_c[i : i + bs].to(device), self.valid_y[i : i + bs].to(device)
            mean = None if self.valid_m is None else self.valid_m[i : i + bs].to(device)
            if self.gen["objective"] == "diffusion":
                per, t = self._diffusion_terms(module, cond, target, gen, mean)
                times.append(t.cpu().numpy())
            else:
                per = (((module(cond) - target) / module.y_std) ** 2).mean(dim=(1, 2, 3))
            losses.append(per.double().cpu().numpy())
        per_pair = np.concatenate(losses)
        out["loss"] = float(per_pair.mean())
        n = min(g.valid_conditions, len(self.valid_y))
        cond = self.valid_c[:n].to(device)
        truth = self.valid_y[:n, 0].double().numpy()
        mean = None if self.valid_m is None else self.valid_m[:n].to(device)
        pred = ddim_sample(module, cond, self.norm, g.sample_steps, seed=0, mean=mean)
        rng = self.norm["target_range"]
        out.update(score_maps(pred, truth, rng))
        base = score_maps(np.broadcast_to(self.mean_map, truth.shape), truth, rng)
        out.update({"mean_nmse": base["nmse"], "mean_ssim": base["ssim"]})
        s = max(1, g.samples_per_condition)
        several = ddim_sample(
            module,
            cond[:1].expand(s, -1, -1, -1),
            self.norm,
            g.sample_steps,
            seed=1,
            mean=None if mean is None else mean[:1].expand(s, -1, -1, -1),
        )
        self._last = {
            "conditions": self.valid_c[:n].numpy(),
            "truths": truth,
            "predictions": pred,
            "samples": several,
            "metrics": dict(out),
            "timesteps": np.concatenate(times) if times else None,
            "per_pair": per_pair,
        }
        if self.gen["objective"] == "diffusion" and s > 1:
            out["spread_error_corr"] = gm.spread_error(several, truth[0])["corr"]
        return out

    def samples(self, module, device) -> Samples | None:
        if self._last is None:
            return None
        last = self._last
        return (
            {1: float(last["metrics"]["nmse"])},
            last["truths"][:, None].astype(np.float32),
            last["predictions"][:, None].astype(np.float32),
            (self.target_name,),
        )

    def artifacts(self, run_dir, epoch: int, step: int) -> list[dict[str, Any]]:
        last = self._last
        if last is None:
            return []
        records = []
        if last["timesteps"] is not None:
            bins = max(1, self.recipe.generative.timestep_bins)
            edges = np.linspace(0, self.gen["timesteps"], bins + 1)
            which = np.clip(np.searchsorted(edges, last["timesteps"], side="right") - 1, 0, bins - 1)
            values = [
                float(last["per_pair"][which == b].mean()) if (which == b).any() else None
                for b in range(bins)
            ]
            records.append(
                {
                    "kind": "timestep_loss",
                    "bins": edges.tolist(),
                    "values": values,
                    "counts": [int((which == b).sum()) for b in range(bins)],
                }
            )
        if run_dir is None:
            return records
        from fieldcast.training.checkpoint import atomic_write

        name = f"samples/generative_epoch_{epoch + 1:04d}.npz"  # beside the trainer's epoch_NNNN.npz
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            condition=last["conditions"][0],
            truth=last["truths"][0],
            samples=last["samples"],
            conditions=last["conditions"],
            truths=last["truths"],
            predictions=last["predictions"],
            condition_names=np.array(self.condition_names),
            target_name=np.array(self.target_name),
            units=np.array(self._target_units()),
            step=np.int64(step),
            epoch=np.int64(epoch),
        )
        atomic_write(Path(run_dir) / name, buf.getvalue())
        m = last["metrics"]
        records.append(
            {
                "kind": "generative_samples",
                "path": name,
                "pairs": len(last["truths"]),
                "samples": len(last["samples"]),
                "nmse": m["nmse"],
                "ssim": m["ssim"],
            }
        )
        return records

    def _target_units(self) -> str:
        units = {c.name: c.units for c in self.spec.channels()}
        return units.get(self.target_name, "")

    def sidecar(self) -> dict[str, Any]:
        return {
            "kind": "generative",
            "history": 0,
            "grid": list(self.dataset.grid),
            "dt": self.dataset.dt,
            "normalisation": self.norm,
            "generative": self.gen,
        }

    def describe(self) -> str:
        how = self.gen["objective"]
        if self.gen.get("residual"):
            how += ", correcting " + Path(self.gen["mean_model"]["path"]).name
        return (
            f"{len(self.train_y)} training and {len(self.valid_y)} validation pairs: "
            f"{', '.join(self.condition_names)} -> {self.target_name} ({how})"
        )
