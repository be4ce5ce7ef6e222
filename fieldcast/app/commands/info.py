"""``fieldcast info FILE``: what a dataset holds, or why it cannot be used."""

from __future__ import annotations

import argparse
import sys

NAME = "info"
HELP = "describe a dataset: fields, shapes, units, time axis, splits, statistics, problems"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", help="a Fieldcast/The Well HDF5 file, or a PDEBench file or NPZ folder to import"
    )
    parser.add_argument(
        "--scan-mb",
        type=float,
        default=256.0,
        help="read at most this many MiB when looking for NaN/Inf (0: all)",
    )


def _size(n_traj: int, n_frames: int, grid) -> str:
    return f"{n_traj} trajectories x {n_frames} frames, grid {grid[0]} x {grid[1]}"


def _well_lines(path: str, scan_bytes: int | None) -> list[str]:
    from fieldcast.engine.data import SPLIT_NAMES, open_dataset, validate_dataset
    from fieldcast.engine.limits import short

    with open_dataset(path) as ds:
        generic = "  (generic: no Fieldcast spec in the file)" if ds.is_foreign else ""
        lines = [
            f"{path}",
            f"  system      {ds.spec.name}{generic}",
            f"  size        {_size(ds.n_trajectories, ds.n_frames, ds.grid)}",
            f"  time        t0 = {ds.t0:g}, dt = {ds.dt:g} {ds.spec.time_units}, "
            f"t = {ds.t0:g} .. {ds.times()[-1]:g}",
            "  fields",
        ]
        for fs in ds.spec.fields:
            shape = (ds.n_trajectories, ds.n_frames, *ds.grid) + (2,) * fs.order
            units = fs.units or "-"
            comps = ", ".join(fs.component_names(ds.spec.n_dims))
            lines.append(f"    {fs.name:<14} {fs.role:<12} {units:<10} {shape}  [{comps}]")
        stored = "" if ds.has_stored_splits else " (default, not stored)"
        lines.append(f"  splits      {ds.split_note}{stored}")
        for name in SPLIT_NAMES:
            segs = ds.split_segments(name)
            frames = sum(b - a for _, a, b in segs)
            lines.append(f"    {name:<6} {len(segs)} segments, {frames} frames")
        stats, read = ds.sample_stats(scan_bytes if scan_bytes is not None else 1 << 62)
        train_frames = sum(b - a for _, a, b in ds.split_segments("train"))
        if ds.has_stored_stats:
            how = ""
        elif read < train_frames:
            how = f" (from {read} of {train_frames} frames, not stored)"
        else:
            how = " (computed now, not stored)"
        lines.append(f"  statistics  train split{how}")
        for i, ch in enumerate(ds.channel_names):
            lines.append(
                f"    {ch:<14} mean {stats['mean'][i]:<10.4g} std {stats['std'][i]:<10.4g} "
                f"min {stats['min'][i]:<10.4g} max {stats['max'][i]:.4g}"
            )
        params = ds.simulation_parameters
        if params:
            text = ", ".join(f"{short(k, 60)} = {short(v, 80)}" for k, v in list(params.items())[:50])
            more = f" (and {len(params) - 50} more)" if len(params) > 50 else ""
            lines.append("  parameters  " + short(text, 600) + more)
        lines.append("  unmapped    " + short("; ".join(ds.unmapped) or "none", 600))
        problems = validate_dataset(ds, max_bytes=scan_bytes)
        lines.append("  problems    " + ("none" if not problems else problems[0]))
        lines += [f"              {p}" for p in problems[1:]]
    return lines


def _source_lines(path: str) -> list[str]:
    from fieldcast.engine.data.importers import map_channels, open_source

    src = open_source(path)
    mapping = map_channels(src.channels)
    lines = [
        f"{path}",
        f"  format      {src.format} (import it with: fieldcast import {path} --out FILE.h5)",
        f"  size        {_size(src.n_trajectories, src.n_frames, src.grid)}",
        f"  time        dt = {src.dt:g}",
        "  channels",
    ]
    lines += [f"    {dst:<14} <- {s}" for dst, s in mapping.assign.items()]
    lines.append("  unmapped    " + ("; ".join(mapping.unmapped + list(src.skipped)) or "none"))
    return lines


def run(args: argparse.Namespace) -> int:
    from fieldcast.engine.data import DatasetError, detect_format

    scan = None if args.scan_mb <= 0 else int(args.scan_mb * 2**20)
    try:
        kind = detect_format(args.file)
        lines = _well_lines(args.file, scan) if kind == "well" else _source_lines(args.file)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0
