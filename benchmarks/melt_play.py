"""The Play panel's melt page with the shipped surrogates against the solver, on one scan, in one run.

The beam is drawn across the plate in four legs (as a user would) and then left off, so the run covers
melting, remelting of earlier tracks and cooling. :class:`fieldcast.engine.melt_session.MeltPlay` steps it
with each source combination and the script reports:

* speed: median and 99th-percentile ms per frame of the solver alone, each surrogate, and both;
* temperature: RMSE (K) of the temperature surrogate's autoregressive rollout against the solver at several
  frames, beside the cold plate (no heat at all) as the baseline, and the peak temperatures;
* grains: IPF MSE against the grain automaton on the same (solver) temperature, of the microstructure
  surrogate fed its own predictions with the automaton's rules (as Play runs it) and alone (every cell
  predicted, as in training), of frozen grains (the substrate, liquid cells zeroed: persistence), and of a
  second automaton run that differs only in its random nucleation (the floor: the automaton is
  stochastic, so no prediction can match it exactly). The floor run is the reference run again, the same
  solver with the automaton updated on every one of its sub-steps, with another nucleation seed.

    .venv/bin/python benchmarks/melt_play.py --frames 300

Ends with ``RESULT solver_fps=… models_fps=… speedup=… t_rmse_k=… cold_rmse_k=… ipf_mse=…
network_alone_ipf_mse=… frozen_ipf_mse=… floor_ipf_mse=… finite=…`` (frames per second while the beam is
on; errors at the last frame).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from fieldcast.engine.melt_session import MeltPlay, MicrostructureModel, open_melt_model
from fieldcast.engine.systems.melt import Material
from fieldcast.resources import resource_path

LEGS = (0.1, 0.6, 0.3, 0.9)  # path points, fractions of the plate length
HORIZONS = (20, 50, 100, 200, 300, 500)


def _scan(play: MeltPlay) -> None:
    play.beam.start_path(LEGS[0] * play.nx * play.dx)
    for x in LEGS[1:]:
        play.beam.add_point(x * play.nx * play.dx)


def run(temperature, microstructure, frames: int, rules: bool = True) -> tuple[list[float], list]:
    """Frames of one scan with the given sessions (None: the solver); times in ms. ``rules=False`` runs
    the microstructure network alone (every cell predicted, only liquid cells zeroed, as in training)."""
    play = MeltPlay()
    play.temperature_session, play.microstructure_session = temperature, microstructure
    play.reset()
    if microstructure is not None and not rules:
        play.micro = MicrostructureModel(microstructure, keep_solid=False)
        play.micro.reset(play.ipf, play.temperature)
    _scan(play)
    times, out = [], []
    for _ in range(frames):
        t0 = time.perf_counter()
        out.append(play.advance())
        times.append((time.perf_counter() - t0) * 1e3)
    return times, out


def floor_run(frames: int) -> list[np.ndarray]:
    """IPF of the reference run again (same solver, same sub-steps, same substrate) with only the
    automaton's random nucleation drawn from another seed: how far two equally valid answers differ."""
    play = MeltPlay()
    play.reset()
    play.ref_grains.rng = np.random.default_rng(12345)  # substrate already filled from the play's seed
    _scan(play)
    return [play.advance().ipf for _ in range(frames)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args(argv)
    paths = {k: resource_path("models", f"melt_{k}.onnx") for k in ("temperature", "microstructure")}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        sys.stderr.write(f"melt_play: shipped model(s) missing: {', '.join(missing)}\n")
        return 2
    temp, micro = (open_melt_model(p)[1] for p in paths.values())
    runs = {
        "solver": run(None, None, args.frames),
        "temperature_model": run(temp, None, args.frames),
        "microstructure_model": run(None, micro, args.frames),
        "both_models": run(temp, micro, args.frames),
    }
    print("speed (ms per frame, 96 x 48; 'beam on' counts only frames while the laser runs)")
    on_fps = {}
    for name, (times, frames) in runs.items():
        on = [t for t, f in zip(times, frames, strict=True) if f.power > 0]
        on_fps[name] = 1e3 / np.median(on)
        print(
            f"  {name:22s} p50 {np.median(times):7.2f}  p99 {np.percentile(times, 99):7.2f}  "
            f"beam on p50 {np.median(on):7.2f} ({on_fps[name]:6.1f} fps)  "
            f"finite {all(f.finite for f in frames)}"
        )
    ref = runs["solver"][1]
    model_t = runs["temperature_model"][1]
    print("temperature surrogate against the solver (RMSE K; peak K model / solver)")
    for h in (h for h in HORIZONS if h <= args.frames):
        a, b = model_t[h - 1], ref[h - 1]
        rmse = np.sqrt(np.mean((a.temperature - b.temperature) ** 2))
        cold = np.sqrt(np.mean((b.temperature - 300.0) ** 2))
        print(
            f"  frame {h:4d}: model {rmse:8.1f}   cold plate {cold:7.1f}   "
            f"peak {a.stats['peak_temperature']:7.0f} / {b.stats['peak_temperature']:7.0f}   "
            f"beam {'on' if b.power else 'off'}"
        )
    liquidus = Material().liquidus
    substrate = MeltPlay().frame.ipf
    floor = floor_run(args.frames)
    model_g = runs["microstructure_model"][1]
    alone = run(None, micro, args.frames, rules=False)[1]
    print("grains against the automaton on the solver's temperature (IPF MSE)")
    last = {}
    for h in (h for h in HORIZONS if h <= args.frames):
        truth = ref[h - 1].ipf
        frozen = np.where(ref[h - 1].temperature >= liquidus, 0.0, substrate)
        last = {
            "model": float(np.mean((model_g[h - 1].ipf - truth) ** 2)),
            "network_alone": float(np.mean((alone[h - 1].ipf - truth) ** 2)),
            "frozen": float(np.mean((frozen - truth) ** 2)),
            "floor": float(np.mean((floor[h - 1] - truth) ** 2)),
        }
        print(f"  frame {h:4d}: " + "   ".join(f"{k} {v:.4f}" for k, v in last.items()))
    a, b = model_t[-1], ref[-1]
    print(
        f"RESULT solver_fps={on_fps['solver']:.1f} models_fps={on_fps['both_models']:.1f} "
        f"speedup={on_fps['both_models'] / on_fps['solver']:.2f} "
        f"t_rmse_k={np.sqrt(np.mean((a.temperature - b.temperature) ** 2)):.1f} "
        f"cold_rmse_k={np.sqrt(np.mean((b.temperature - 300.0) ** 2)):.1f} "
        f"ipf_mse={last['model']:.4f} network_alone_ipf_mse={last['network_alone']:.4f} "
        f"frozen_ipf_mse={last['frozen']:.4f} floor_ipf_mse={last['floor']:.4f} "
        f"finite={int(all(f.finite for _, frames in runs.values() for f in frames))}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
