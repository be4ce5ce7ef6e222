"""``fieldcast train RECIPE.yaml``: train a surrogate, running or reusing the curriculum's parent stages.

Also runnable as ``python -m fieldcast.app.commands.train`` so that ``torchrun --nproc_per_node N -m
fieldcast.app.commands.train ...`` trains with DistributedDataParallel (only rank 0 writes the run folder).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

from fieldcast.app.paths import app_paths

NAME = "train"
HELP = "train a surrogate from a YAML recipe (curriculum parents are trained or reused first)"

_EXIT = {"completed": 0, "early_stopped": 0, "cancelled": 130, "diverged": 1}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", nargs="?", help="recipe file or packaged recipe name (e.g. smoke_k4)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe key for every stage, e.g. --set optim.lr=3e-4 (repeatable)",
    )
    parser.add_argument(
        "--resume", metavar="RUN", help="continue the run folder RUN from its last checkpoint"
    )
    parser.add_argument(
        "--init-from",
        metavar="RUN",
        help="start from the best weights of the run folder RUN instead of the recipe's parent stages",
    )
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument("--data", metavar="FILE", help="dataset file for every stage (instead of data.path)")
    parser.add_argument(
        "--runs-dir",
        default=None,
        metavar="DIR",
        help="folder of run folders (default: the workspace's runs folder, which the Runs panel follows)",
    )


class _Printer:
    """One line per stage, validation, checkpoint and the end of a stage; nothing per step."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last_status: str | None = None

    def __call__(self, event: Any) -> None:
        from fieldcast.training import events as ev

        line = None
        if isinstance(event, ev.DataEvent):
            line = f"{event.task}: {event.description}; split {event.split}"
        elif isinstance(event, ev.StageEvent):
            where = f" -> {event.run_dir}" if event.run_dir else ""
            line = f"stage {event.index + 1}/{event.total} {event.name}: {event.status}{where}"
        elif isinstance(event, ev.ValidationEvent):
            parts = [f"{k}={v:.4g}" for k, v in event.metrics.items()]
            if event.rollout:
                parts.append("rollout " + " ".join(f"@{h}={e:.3g}" for h, e in event.rollout.items()))
            line = (
                f"epoch {event.epoch + 1} validation: "
                + ", ".join(parts)
                + (" (best)" if event.is_best else "")
            )
        elif isinstance(event, ev.FinishedEvent):
            self.last_status = event.status
            line = f"finished: {event.status} at step {event.step}" + (
                f" ({event.message})" if event.message else ""
            )
        if line is not None:
            self.stream.write("\n" + line + "\n" if self.stream.isatty() else line + "\n")
            self.stream.flush()


def run(args: argparse.Namespace) -> int:
    if args.runs_dir is None:
        args.runs_dir = str(app_paths().runs)
    from fieldcast.app.commands._progress import drive
    from fieldcast.engine.data import DatasetError
    from fieldcast.engine.jobs import CancelToken
    from fieldcast.training.checkpoint import CheckpointError
    from fieldcast.training.config import RecipeError
    from fieldcast.training.devices import DeviceError, select_device
    from fieldcast.training.distributed import init_distributed, shutdown_distributed
    from fieldcast.training.runs import Curriculum

    try:
        curriculum = Curriculum(
            args.recipe, args.overrides, args.runs_dir, args.data, args.resume, args.init_from
        )
        if args.device:
            select_device(args.device)
    except (RecipeError, DeviceError, CheckpointError) as exc:
        print(f"fieldcast train: {exc}", file=sys.stderr)
        return 2
    dist = init_distributed(args.device or "auto")
    token = CancelToken()
    stream = sys.stderr if dist.is_main else open(os.devnull, "w")
    printer = _Printer(stream)
    try:
        job = curriculum.run(device=args.device, token=token, dist=dist)
        drive(job, token, on_event=printer, stream=stream)
    except (RecipeError, DeviceError, DatasetError, CheckpointError) as exc:
        print(f"fieldcast train: {exc}", file=sys.stderr)
        return 2
    finally:
        if stream is not sys.stderr:
            stream.close()
        shutdown_distributed()
    return _EXIT.get(printer.last_status or "cancelled", 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fieldcast train", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
