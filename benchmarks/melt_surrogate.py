"""Melt surrogates against persistence on a dataset's test split.

    python benchmarks/melt_surrogate.py DATA.h5 [--convlstm RUN/checkpoints/best.safetensors]
                                                [--temperature RUN/model.onnx] [--split 12,6,6]

The microstructure model is scored on the time split it was trained with (``--split``), the temperature
model on the dataset's stored test split (its trainer uses the stored splits).
"""

from __future__ import annotations

import argparse
import json

import torch


def main() -> None:
    from fieldcast.engine.data import open_dataset
    from fieldcast.training.checkpoint import load_model
    from fieldcast.training.melt_train import MeltWindows, _Normaliser, evaluate_windows

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--convlstm")
    parser.add_argument("--temperature")
    parser.add_argument("--split", default="12,6,6")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = open_dataset(args.data)
    report = {}
    if args.convlstm:
        model, side = load_model(args.convlstm)
        norm = _Normaliser.__new__(_Normaliser)
        rec = side["normalisation"]
        for key in ("in_mean", "in_std", "out_mean", "out_std"):
            setattr(norm, key, torch.tensor(rec[key]).view(1, -1, 1, 1))
        cfg = side["config"]["data"]
        context = int(cfg.get("context", 3))
        split = [float(x) for x in args.split.split(",")]
        data = MeltWindows(dataset, split, context + 1, cfg.get("crop_rows"))
        report["microstructure_test"] = evaluate_windows(model, norm, data, "test", context)
    if args.temperature:
        from fieldcast.engine.runtime import ModelSession
        from fieldcast.training.melt_eval import evaluate_temperature

        report["temperature_test"] = evaluate_temperature(ModelSession(args.temperature, threads=1), dataset)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
