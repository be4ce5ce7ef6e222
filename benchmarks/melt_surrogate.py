"""Melt surrogates (the shipped ONNX files by default) against persistence and the reference solver.

    python benchmarks/melt_surrogate.py DATA.h5 [--temperature ONNX] [--microstructure ONNX]
                                                [--split 12,6,6] [--long 300] [--seed 1000]

Temperature model (one thread, as in the Play panel: clamped at >= ambient after each step, nothing else):

- one-step RMSE on every window of the dataset's stored test split, beside persistence (next = current);
- autoregressive RMSE after 20 and 50 frames from frames 2, 25 and 45 of each test trajectory, beside
  persistence of the start frame;
- a ``--long``-frame rollout of a trajectory simulated here (seed ``--seed``, not in the data): RMSE at 20,
  50 and the last frame beside persistence, finiteness, peak temperature against the solver's, and how far
  (cells) the hottest surface cell of the model is from the solver's (the pool follows the laser);
- a cooling run (``--long`` frames): three passes of the laser, then the laser off from frame ~110 to the
  end: RMSE at 20, 50, 100, 200 and the last frame beside persistence, peaks, the hottest cell at the end
  (the solver is back to ~300 K some 40 frames after the laser stops), the first frame below 400 K and the
  first frame with the hottest cell within 5 K of ambient (305 K), for the model and for the solver.

Microstructure model (explicit recurrent state):

- front and overall MSE on the test trajectories of the split it was trained with (``--split``, by
  default the file's split by trajectory: scans the model never saw), each window stepped from a zero
  state over its 3 context transitions exactly as in training (teacher forcing). The front is the cells
  that solidify during the step (liquid at t, below the liquidus at t+1; see
  ``fieldcast.training.melt_eval``), scored beside persistence (each cell keeps its last orientation,
  from before it melted), frozen grains (the trajectory's first microstructure) and the naive persistence
  ``ipf(t+1) = ipf(t)`` (no orientation for any front cell);
- the Play panel's sliding window over the first 100 frames of the long trajectory: per frame, from a zero
  state, over the last 3 transitions with the solver's temperature, feeding back its own IPF predictions;
  scored beside the frozen initial microstructure and beside the grain automaton (``GrainField``) driven by
  the same frame temperatures (linearly interpolated over the solver's sub-steps), with ms per frame.

Ends with one ``RESULT key=value ...`` line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

AMBIENT = 300.0


def _shipped(name: str) -> str:
    from fieldcast.resources import resource_path

    return str(resource_path("models", name))


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, np.float64) - b) ** 2)))


# ---------------------------------------------------------------- temperature


def temperature_rollout(session, temps: np.ndarray, lasers: np.ndarray, start: int, steps: int) -> np.ndarray:
    """Autoregressive temperature frames ``start+1 .. start+steps`` (steps, nx, ny) from the true history
    up to ``start``; ``temps``/``lasers`` (T, nx, ny). Clamped at ambient after each step, as in Play."""
    names = session.info.input_channels
    hist: dict[int, np.ndarray] = {-k: temps[max(start - k, 0)] for k in range(session.info.history)}
    x = np.zeros((1, len(names), *temps.shape[1:]), np.float32)
    out = []
    for k in range(steps):
        t = start + k
        for i, name in enumerate(names):
            base, _, lag = name.partition("@t-")
            x[0, i] = lasers[t] if base == "laser" else hist[-int(lag or 0)]
        nxt = np.maximum(session.run(x)["next_fields"][0, 0], AMBIENT)
        for lag in range(session.info.history - 1, 0, -1):
            hist[-lag] = hist[-lag + 1]
        hist[0] = nxt
        out.append(nxt)
    return np.stack(out)


def evaluate_temperature_model(
    path: str, dataset, long_run: dict, horizons=(20, 50), cooling_run: dict | None = None
) -> dict:
    from fieldcast.engine.runtime import ModelSession
    from fieldcast.training.melt_eval import evaluate_temperature

    session = ModelSession(path, threads=1)
    report = {"one_step": evaluate_temperature(session, dataset, "test", limit=10_000)}
    names = list(dataset.channel_names)
    ti, li = names.index("temperature"), names.index("laser")
    errs = {h: [] for h in horizons}
    pers = {h: [] for h in horizons}
    for traj, a, b in dataset.split_segments("test"):
        w = dataset.read_window(traj, a, b - a)
        temps, lasers = w[:, ti], w[:, li]
        for start in (2, 25, 45):
            steps = min(max(horizons), len(temps) - 1 - start)
            if steps < 1:  # a short test segment (e.g. the time split of a file of few trajectories)
                continue
            pred = temperature_rollout(session, temps, lasers, start, steps)
            for h in horizons:
                if h <= steps:
                    errs[h].append(np.mean((pred[h - 1] - temps[start + h]) ** 2))
                    pers[h].append(np.mean((temps[start] - temps[start + h]) ** 2))
    report["rollout"] = {f"rmse@{h}": float(np.sqrt(np.mean(errs[h]))) for h in horizons if errs[h]} | {
        f"persistence_rmse@{h}": float(np.sqrt(np.mean(pers[h]))) for h in horizons if pers[h]
    }
    temps, lasers = long_run["temperature"], long_run["laser"]
    steps = len(temps) - 3
    t0 = time.perf_counter()
    pred = temperature_rollout(session, temps, lasers, 2, steps)
    ms = (time.perf_counter() - t0) * 1e3 / steps
    truth = temps[3:]
    hottest_p = pred[:, :, -1].argmax(axis=1)  # x of the hottest surface cell per frame
    hottest_t = truth[:, :, -1].argmax(axis=1)
    lit = lasers[2:-1].max(axis=1).max(axis=1) > 0  # frames when the laser is on
    long = {"frames": steps, "finite": bool(np.isfinite(pred).all()), "ms_per_step_loop": ms}
    for h in sorted({h for h in (20, 50, 100) if h <= steps} | {steps}):
        long[f"rmse@{h}"] = _rmse(pred[h - 1], truth[h - 1])
        long[f"persistence_rmse@{h}"] = _rmse(temps[2], truth[h - 1])
    long |= {
        "peak_model_K": float(pred.max()),
        "peak_solver_K": float(truth.max()),
        "peak_model_last_K": float(pred[-1].max()),
        "peak_solver_last_K": float(truth[-1].max()),
        "min_model_K": float(pred.min()),
        "hot_spot_offset_cells_mean": float(np.abs(hottest_p - hottest_t)[lit].mean()),
        "hot_spot_offset_cells_max": float(np.abs(hottest_p - hottest_t)[lit].max()),
    }
    report["long"] = long
    if cooling_run is not None:
        report["cooling"] = _cooling_report(session, cooling_run)
    return report


def simulate_cooling_run(frames: int, size: int, depth: int, seed: int) -> dict:
    """Three passes of the laser (back, forth, back), then the laser off to the end: the plate must cool."""
    from fieldcast.engine.systems.melt.scenes import MeltScene, ScanPass, simulate_scene

    scene = MeltScene(size, depth)
    lx, fdt = size * scene.dx, scene.frame_dt
    scene.passes = [
        ScanPass(0.21 * lx, 0.79 * lx, 0.4, 180.0, 2 * fdt),
        ScanPass(0.79 * lx, 0.21 * lx, 0.5, 200.0, 2 * fdt),
        ScanPass(0.21 * lx, 0.83 * lx, 0.35, 160.0, 10.0),  # then off for 10 s
    ]
    return simulate_scene(scene, frames, np.random.default_rng(seed))


def _cooling_report(session, run: dict) -> dict:
    temps, lasers = run["temperature"], run["laser"]
    steps = len(temps) - 3
    pred = temperature_rollout(session, temps, lasers, 2, steps)
    truth = temps[3:]
    lit = lasers[2:-1].max(axis=1).max(axis=1) > 0
    off = int(len(lit) - np.argmax(lit[::-1])) if lit.any() else 0  # first frame (of pred) of the last pause
    hot_p, hot_t = pred.max(axis=(1, 2)), truth.max(axis=(1, 2))
    out = {"frames": steps, "laser_off_from": off + 3, "finite": bool(np.isfinite(pred).all())}
    for h in (20, 50, 100, 200, steps):
        if h <= steps:
            out[f"rmse@{h}"] = _rmse(pred[h - 1], truth[h - 1])
            out[f"persistence_rmse@{h}"] = _rmse(temps[2], truth[h - 1])
    cold_p, cold_t = np.flatnonzero(hot_p[off:] < 400.0), np.flatnonzero(hot_t[off:] < 400.0)
    # "Back to ambient": the hottest cell within 5 K of 300 K.
    amb_p, amb_t = np.flatnonzero(hot_p[off:] < AMBIENT + 5), np.flatnonzero(hot_t[off:] < AMBIENT + 5)
    return out | {
        "frames_off_to_305K_model": int(amb_p[0]) if amb_p.size else None,
        "frames_off_to_305K_solver": int(amb_t[0]) if amb_t.size else None,
        "peak_model_K": float(hot_p.max()),
        "peak_solver_K": float(hot_t.max()),
        "peak_model_last_K": float(hot_p[-1]),
        "peak_solver_last_K": float(hot_t[-1]),
        "frames_off_to_400K_model": int(cold_p[0]) if cold_p.size else None,
        "frames_off_to_400K_solver": int(cold_t[0]) if cold_t.size else None,
    }


# ---------------------------------------------------------------- microstructure


def _ipf_step(session, ipf, t_now, t_next, states):
    x = np.concatenate([ipf, t_now[None], t_next[None]])[None].astype(np.float32)
    out = session.run({"fields": x, **states})
    return out["next_fields"][0], {r.input: out[r.output] for r in session.info.recurrent}


def _zero_states(session, nx, ny):
    return {r.input: np.zeros(r.shape(1, nx, ny), np.float32) for r in session.info.recurrent}


def evaluate_microstructure_model(path: str, dataset, split, long_run: dict, seed: int, frames=100) -> dict:
    import torch

    from fieldcast.engine.data import open_dataset
    from fieldcast.engine.runtime import ModelSession
    from fieldcast.engine.systems.melt.ipf import IPF_CHANNELS
    from fieldcast.engine.systems.melt.thermal import Material
    from fieldcast.training.melt_eval import FrontScore, last_orientation

    m = Material()
    session = ModelSession(path, threads=1)
    # The test part of the split the model was trained with (as the recurrent_field task cuts it), on a
    # second handle so the temperature evaluation keeps the file's stored split. Each test segment is read
    # whole, so persistence can remember the grain a cell had before it melted.
    data = open_dataset(dataset.path)
    data.use_split(split)
    names = list(data.channel_names)
    channels = [names.index("temperature")] + [names.index(n) for n in IPF_CHANNELS]
    score = FrontScore()
    for traj, a, b in data.split_segments("test"):
        seg = data.read_window(traj, a, b - a)[:, channels]  # (T, 10, nx, ny): T, ipf x9
        last = last_orientation(seg[:, 1:])
        for start in range(0, len(seg) - 3):
            w = seg[start : start + 4]
            states = _zero_states(session, *w.shape[-2:])
            for s in range(3):
                pred, states = _ipf_step(session, w[s, 1:], w[s, 0], w[s + 1, 0], states)
            baselines = {"persistence": last[start + 2], "frozen": seg[0, 1:], "naive_persistence": w[2, 1:]}
            score.add(*(torch.from_numpy(a[None]) for a in (pred, w[3, 1:], w[2, 1:])),
                      torch.from_numpy(w[3, 0][None]), m.liquidus,
                      {k: torch.from_numpy(v[None]) for k, v in baselines.items()})  # fmt: skip
    report = {"windows_test": score.result()}
    # The Play panel's sliding window, autoregressive in ipf, on the long (unseen) trajectory: as is, and
    # with the fed-back IPF clamped to the colour range [0, 1].
    frames = min(frames, len(long_run["temperature"]))
    temps = long_run["temperature"][:frames]
    truth = np.stack([long_run[n] for n in IPF_CHANNELS], axis=1)[:frames]  # (T, 9, nx, ny)
    for key, clamp in (("sliding_window", False), ("sliding_window_clamped", True)):
        report[key] = sliding_window(session, temps, truth, m, clamp)
    report["grain_automaton"] = grain_automaton(long_run, seed, frames)
    return report


def sliding_window(session, temps, truth, m, clamp: bool) -> dict:
    """Per frame, from a zero state, over the last 3 transitions with the solver's temperature, feeding
    back the model's own IPF (the first 3 frames are the solver's); scored on solid cells and the front,
    beside the frozen initial microstructure."""
    frames, (nx, ny) = len(temps), temps.shape[1:]
    hat = [truth[k].copy() for k in range(3)]
    auto, frozen, front_m, front_f, ms = [], [], [], [], []
    for n in range(2, frames - 1):
        t0 = time.perf_counter()
        states = _zero_states(session, nx, ny)
        for s in range(n - 2, n + 1):
            pred, states = _ipf_step(session, hat[s], temps[s], temps[s + 1], states)
        ms.append((time.perf_counter() - t0) * 1e3)
        if clamp:
            pred = np.clip(pred, 0.0, 1.0)
        hat.append(pred)
        solid = temps[n + 1] < m.liquidus
        front = solid & ((truth[n].sum(axis=0) == 0) | (temps[n + 1] >= m.solidus - 50.0))
        init = truth[0] * solid
        auto.append(((pred - truth[n + 1]) ** 2)[:, solid].mean())
        frozen.append(((init - truth[n + 1]) ** 2)[:, solid].mean())
        if front.any():
            front_m.append(((pred - truth[n + 1]) ** 2)[:, front].mean())
            front_f.append(((init - truth[n + 1]) ** 2)[:, front].mean())
    return {
        "frames": frames,
        "mse_last": float(auto[-1]),
        "mse_mean": float(np.mean(auto)),
        "frozen_mse_last": float(frozen[-1]),
        "frozen_mse_mean": float(np.mean(frozen)),
        "front_mse_mean": float(np.mean(front_m)),
        "frozen_front_mse_mean": float(np.mean(front_f)),
        "ms_per_frame": float(np.median(ms)),
    }


def grain_automaton(long_run: dict, seed: int, frames: int) -> dict:
    """The grain automaton driven by frame temperatures (interpolated over the solver's sub-steps), from the
    same substrate as the solver's run: MSE against the solver's IPF on solid cells, and ms per frame."""
    from fieldcast.engine.systems.melt import GrainField, ThermalSolver, sample_scene
    from fieldcast.engine.systems.melt.ipf import IPF_CHANNELS

    rng = np.random.default_rng(seed)
    scene = sample_scene(rng, long_run["temperature"].shape[1], long_run["frames"])
    grains = GrainField(scene.nx, scene.ny, scene.grains, rng)
    grains.fill_substrate()
    solver = ThermalSolver(scene.nx, scene.ny, scene.dx, scene.material, scene.thermal)
    n_sub = max(1, int(np.ceil(scene.frame_dt / (0.9 * solver.dt_limit))))
    m = scene.material
    temps = long_run["temperature"]
    truth = np.stack([long_run[n] for n in IPF_CHANNELS], axis=1)
    errs, ms = [], []
    for k in range(frames - 1):
        t0 = time.perf_counter()
        for i in range(1, n_sub + 1):
            grains.update(temps[k] + (temps[k + 1] - temps[k]) * (i / n_sub), m.solidus, m.liquidus)
        ipf = grains.ipf()
        ms.append((time.perf_counter() - t0) * 1e3)
        solid = temps[k + 1] < m.liquidus
        errs.append(((ipf - truth[k + 1]) ** 2)[:, solid].mean())
    return {"substeps": n_sub, "mse_last": float(errs[-1]), "mse_mean": float(np.mean(errs)),
            "ms_per_frame": float(np.median(ms))}  # fmt: skip


def main() -> None:
    import torch

    from fieldcast.engine.data import open_dataset
    from fieldcast.engine.systems.melt import simulate_trajectory

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--temperature", default=_shipped("melt_temperature.onnx"))
    parser.add_argument("--microstructure", default=_shipped("melt_microstructure.onnx"))
    parser.add_argument(
        "--split", default="auto", help='"auto" (the file\'s split by trajectory) or time ratios "12,6,6"'
    )
    parser.add_argument("--long", type=int, default=300, help="frames of the long rollout")
    parser.add_argument("--seed", type=int, default=1000, help="long trajectory's seed (not in the data)")
    parser.add_argument("--json", help="also write the report here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = open_dataset(args.data)
    size = dataset.grid[0]
    long_run = simulate_trajectory(args.seed, args.long + 3, size)
    long_run["frames"] = args.long + 3
    report: dict = {"data": args.data, "grid": list(dataset.grid)}
    result: dict[str, float] = {}
    if args.temperature and Path(args.temperature).is_file():
        cooling = simulate_cooling_run(args.long + 3, size, dataset.grid[1], args.seed)
        t = evaluate_temperature_model(args.temperature, dataset, long_run, cooling_run=cooling)
        report["temperature"] = t
        one, ro, lg, co = t["one_step"], t["rollout"], t["long"], t["cooling"]
        result |= {
            "t_rmse1": one["temperature_rmse"], "t_pers1": one["persistence_temperature_rmse"],
            "t_rmse20": ro.get("rmse@20"), "t_pers20": ro.get("persistence_rmse@20"),
            "t_rmse50": ro.get("rmse@50"), "t_pers50": ro.get("persistence_rmse@50"),
            f"t_rmse{args.long}": lg[f"rmse@{args.long}"],
            f"t_pers{args.long}": lg[f"persistence_rmse@{args.long}"],
            "t_finite": float(lg["finite"]), "t_peak": lg["peak_model_K"],
            "t_peak_solver": lg["peak_solver_K"],
            "t_hotspot_cells": lg["hot_spot_offset_cells_mean"],
            f"t_cool_rmse{args.long}": co[f"rmse@{args.long}"],
            f"t_cool_pers{args.long}": co[f"persistence_rmse@{args.long}"],
            "t_cool_peak": co["peak_model_K"], "t_cool_peak_solver": co["peak_solver_K"],
            "t_cool_last": co["peak_model_last_K"], "t_cool_last_solver": co["peak_solver_last_K"],
            "t_cool_305_frames": co["frames_off_to_305K_model"],
            "t_cool_305_frames_solver": co["frames_off_to_305K_solver"],
        }  # fmt: skip
    if args.microstructure and Path(args.microstructure).is_file():
        split = args.split if args.split in ("auto", "stored") else [float(x) for x in args.split.split(",")]
        mi = evaluate_microstructure_model(args.microstructure, dataset, split, long_run, args.seed)
        report["microstructure"] = mi
        w, sw, ga = mi["windows_test"], mi["sliding_window"], mi["grain_automaton"]
        result |= {
            "front_mse": w["front_mse"], "front_mse_persistence": w["persistence_front_mse"],
            "front_mse_frozen": w["frozen_front_mse"],
            "front_mse_naive_persistence": w["naive_persistence_front_mse"], "front_cells": w["front_cells"],
            "m_mse": w["mse"], "m_mse_pers": w["persistence_mse"], "m_mse_frozen": w["frozen_mse"],
            "m_sw_mse": sw["mse_mean"], "m_sw_frozen": sw["frozen_mse_mean"],
            "m_sw_front": sw["front_mse_mean"], "m_sw_front_frozen": sw["frozen_front_mse_mean"],
            "m_sw_clamped_mse": mi["sliding_window_clamped"]["mse_mean"],
            "m_sw_clamped_front": mi["sliding_window_clamped"]["front_mse_mean"],
            "m_ms": sw["ms_per_frame"], "ga_mse": ga["mse_mean"], "ga_ms": ga["ms_per_frame"],
        }  # fmt: skip
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    print("RESULT " + " ".join(f"{k}={v:.4g}" for k, v in result.items() if v is not None))


if __name__ == "__main__":
    main()
