"""Hostile inputs: small files that declare enormous sizes, lie about where their data is, nest without end,
or hold values no physics allows; and valid files a strict reader once refused.

Usage::

    python tools/hostile_corpus.py OUT_DIR

writes the files into ``OUT_DIR`` with ``hostile.json`` listing every case (the same :class:`Case` records
as ``tools/make_bad_corpus.py``). Each class of hostile input goes to every ``fieldcast`` command that
reads it (``info``, ``import``, ``train``, ``eval``, ``bench``, ``export``).

Outcomes are those of the bad corpus (``rejected``, ``reported``) plus ``accepted``: a valid file that
must be read (exit 0, nothing on stderr but progress). ``tools/reliability_report.py`` runs every case
under a memory and a time cap and records peak memory and wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_bad_corpus import SMOKE_MODEL, Case

__all__ = ["build_hostile_corpus"]

ROOT = Path(__file__).resolve().parents[1]
FIELDCAST = [sys.executable, "-m", "fieldcast.app.cli"]


# ------------------------------------------------------------------------------------------ shared inputs


def _good_dataset(folder: Path) -> Path:
    """A real smoke dataset (3 trajectories x 12 frames, 16 x 16) for models and edits."""
    from fieldcast.engine.generation import generate_dataset

    path = folder / "good_smoke.h5"
    if not path.exists():
        for _ in generate_dataset("smoke", path, trajectories=3, frames=12, size=16, seed=3):
            pass
    return path


def _trained_run(folder: Path, data: Path) -> Path:
    """A run folder trained for two steps on ``data`` and exported (``model.onnx``)."""
    run = folder / "runs" / "default-good_smoke"
    if (run / "model.onnx").exists():
        return run
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FIELDCAST_HOME": str(folder / "home")}
    argv = ["train", "--data", str(data), "--runs-dir", str(folder / "runs")]
    argv += ["--set", "train.max_steps=2", "--set", "train.epochs=1", "--set", "model.args.base_width=4"]
    for cmd in (argv, ["export", str(run)]):
        proc = subprocess.run([*FIELDCAST, *cmd], capture_output=True, text=True, env=env, cwd=folder)
        if proc.returncode != 0:
            raise RuntimeError(f"fieldcast {cmd[0]} failed while building the corpus:\n{proc.stderr[-2000:]}")
    return run


def _well(
    path: Path, fields: dict[str, tuple], n_traj: int, n_frames: int, grid: tuple[int, int], **kw
) -> Path:
    """A minimal foreign Well file whose scalar fields are created (not written) with the given shapes.

    ``fields`` maps a name to ``(dtype, data or None)``; ``None`` leaves the dataset unwritten (a header
    that declares bytes the file does not hold).
    """
    with h5py.File(path, "w", libver="latest") as f:
        f.attrs.update(
            dataset_name=path.stem,
            grid_type="cartesian",
            n_spatial_dims=2,
            n_trajectories=n_traj,
            simulation_parameters=[],
        )
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        times = kw.get("times", np.arange(n_frames, dtype=np.float32) * 0.1)
        dims.create_dataset("time", data=times)
        for axis, n in zip("xy", grid, strict=True):
            d = dims.create_dataset(axis, shape=(n,), dtype=np.float32)
            d.attrs["sample_varying"] = False
        f.create_group("boundary_conditions")
        f.create_group("scalars")
        g0 = f.create_group("t0_fields")
        g0.attrs["field_names"] = list(fields)
        f.create_group("t1_fields").attrs["field_names"] = []
        f.create_group("t2_fields").attrs["field_names"] = []
        for name, (dtype, data) in fields.items():
            shape = (n_traj, n_frames, *grid)
            chunks = (1, 1, min(grid[0], 1024), min(grid[1], 1024))
            if data is None:
                d = g0.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks, compression="gzip")
            else:
                d = g0.create_dataset(name, data=data, chunks=chunks, compression="gzip")
            d.attrs.update(sample_varying=True, time_varying=True, dim_varying=[True, True])
    return path


# ------------------------------------------------------------------------------------------------ HDF5


def _hdf5_cases(folder: Path, good: Path, model: Path) -> list[Case]:
    cases: list[Case] = []

    def every(cid: str, path: Path, keyword: str, note: str, consumers=("info", "train", "eval")) -> None:
        argv = {
            "info": ["info", str(path)],
            "train": ["train", "--data", str(path), "--runs-dir", "{out}", "--set", "train.max_steps=1"],
            "eval": ["eval", str(model), str(path), "--out", "{out}", "--trajectories", "1"],
            "import": ["import", str(path), "--out", "{out}/imported.h5"],
        }
        for consumer in consumers:
            cases.append(
                Case(
                    f"{cid}@{consumer}",
                    "hostile-hdf5",
                    str(path),
                    argv[consumer],
                    "rejected",
                    keyword,
                    note=note,
                )
            )

    # Sizes: a file of kilobytes that declares frames of 8192² and 16000², and 3.7 TiB in all.
    p = _well(folder / "huge_frames_8192.h5", {"density": ("f4", None)}, 1, 4, (8192, 8192))
    every("h5-declared-8192sq-frames", p, "", "79 KB-class file declaring 8192 x 8192 frames, never written")
    one = np.zeros((1, 1, 16000, 16000), np.uint8)  # written (compresses to kilobytes), read as float32
    p = _well(folder / "one_16000sq_frame.h5", {"density": ("u1", one)}, 1, 1, (16000, 16000))
    del one
    every("h5-one-16000sq-frame", p, "budget", "one 16000 x 16000 frame, stored and compressed")
    p = _well(folder / "declares_3_7_tib.h5", {"density": ("f4", None)}, 250_000, 1000, (64, 64))
    every("h5-declares-3.7TiB", p, "stores", "250000 x 1000 frames of 64 x 64 declared, nothing stored")

    # Data that lives elsewhere.
    with h5py.File(good) as src:
        shape = src["t0_fields/density"].shape
    for cid, make in (("h5-external-link", "link"), ("h5-virtual-dataset", "virtual")):
        p = folder / f"{cid}.h5"
        shutil.copyfile(good, p)
        with h5py.File(p, "r+") as f:
            del f["t0_fields/density"]
            if make == "link":
                f["t0_fields/density"] = h5py.ExternalLink(str(good), "/t0_fields/density")
            else:
                layout = h5py.VirtualLayout(shape=shape, dtype="f4")
                layout[...] = h5py.VirtualSource(str(good), "t0_fields/density", shape=shape)
                d = f["t0_fields"].create_virtual_dataset("density", layout)
                d.attrs.update(sample_varying=True, time_varying=True, dim_varying=[True, True])
        keyword = "external link" if make == "link" else "virtual dataset"
        every(
            cid,
            p,
            keyword,
            f"density is {'an external link' if make == 'link' else 'a virtual dataset'} to another file",
        )
    p = folder / "h5-softlink-cycle.h5"
    shutil.copyfile(good, p)
    with h5py.File(p, "r+") as f:
        del f["t0_fields/density"]
        f["t0_fields/density"] = h5py.SoftLink("/t0_fields/loop")
        f["t0_fields/loop"] = h5py.SoftLink("/t0_fields/density")
    every("h5-softlink-cycle", p, "link", "density -> loop -> density soft links", ("info", "train"))

    # Metadata that lies or explodes.
    for cid, edit, keyword, note in (
        ("h5-nested-json", lambda m: "[" * 200_000 + "]" * 200_000, "nested", "200000 nested JSON lists"),
        ("h5-dt-zero", lambda m: _spec_dt(m, 0.0), "dt", "the spec's dt is 0"),
        ("h5-dt-negative", lambda m: _spec_dt(m, -0.25), "dt", "the spec's dt is -0.25"),
        ("h5-dt-nan", lambda m: _spec_dt(m, float("nan")), "dt", "the spec's dt is NaN"),
    ):
        p = folder / f"{cid}.h5"
        shutil.copyfile(good, p)
        with h5py.File(p, "r+") as f:
            f.attrs["fieldcast"] = edit(json.loads(f.attrs["fieldcast"]))
        every(cid, p, keyword, note, ("info", "train"))
    p = folder / "h5-time-constant.h5"
    shutil.copyfile(good, p)
    with h5py.File(p, "r+") as f:
        n = f["dimensions/time"].shape[0]
        del f["dimensions/time"]
        f["dimensions"].create_dataset("time", data=np.zeros(n, np.float32))
        f.attrs.__delitem__("fieldcast")  # a foreign file: its dt comes from the time axis
    every(
        "h5-time-constant", p, "increasing", "foreign file whose time axis never advances", ("info", "train")
    )

    # Values: NaN in the data (the stored statistics were computed before it got there), int8 density.
    p = folder / "h5-nan-in-data.h5"
    shutil.copyfile(good, p)
    with h5py.File(p, "r+") as f:
        for traj in range(f["t0_fields/density"].shape[0]):
            f["t0_fields/density"][traj, 3, 4, 4] = np.nan
    cases.append(
        Case(
            "h5-nan-in-data@train",
            "hostile-hdf5",
            str(p),
            ["train", "--data", str(p), "--runs-dir", "{out}", "--set", "train.max_steps=2"],
            "rejected",
            "NaN",
            note="a NaN at frame 3 of every trajectory; finite stored statistics",
        )
    )
    cases.append(Case("h5-nan-in-data@info", "hostile-hdf5", str(p), ["info", str(p)], "reported", "NaN"))
    dens = np.full((1, 3, 8, 8), 5, np.int8)
    dens[0, 1, 2, 2] = -128
    p = _well(folder / "h5-int8-density.h5", {"density": ("i1", dens)}, 1, 3, (8, 8))
    cases.append(
        Case(
            "h5-int8-density@info",
            "hostile-hdf5",
            str(p),
            ["info", str(p)],
            "reported",
            "int8",
            note="an int8 density holding -128 in its last frame",
        )
    )
    p = _well(
        folder / "h5-huge-attribute.h5", {"density": ("f4", np.ones((1, 3, 8, 8), np.float32))}, 1, 3, (8, 8)
    )
    with h5py.File(p, "r+", libver="latest") as f:
        f.attrs["simulation_parameters"] = ["notes"]
        f.attrs["notes"] = "x" * (10 << 20)
    cases.append(
        Case(
            "h5-10MB-attribute@info",
            "hostile-hdf5",
            str(p),
            ["info", str(p)],
            "reported",
            "notes",
            note="a 10 MB simulation parameter; the description must stay short",
        )
    )
    return cases


def _spec_dt(meta: dict, dt: float) -> str:
    meta["spec"]["dt"] = dt
    return json.dumps(meta)


# ------------------------------------------------------------------------------------------- PDEBench, NPZ


def _import_cases(folder: Path) -> list[Case]:
    cases = []

    def imp(cid: str, path: Path, expect: str, keyword: str, note: str, info: bool = True) -> None:
        # ``info`` describes an import source from its headers: only header problems concern it.
        cases.append(
            Case(
                cid,
                "hostile-import",
                str(path),
                ["import", str(path), "--out", "{out}/x.h5"],
                expect,
                keyword,
                note=note,
            )
        )
        if expect == "rejected" and info:
            cases.append(
                Case(
                    cid + "@info",
                    "hostile-import",
                    str(path),
                    ["info", str(path)],
                    expect,
                    keyword,
                    note=note,
                )
            )

    p = folder / "pdebench_huge.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("density", shape=(1, 100_000, 1024, 1024), dtype="f4", chunks=(1, 1, 256, 256))
        f.create_dataset("Vx", shape=(1, 100_000, 1024, 1024), dtype="f4", chunks=(1, 1, 256, 256))
        f.create_dataset("t-coordinate", data=np.arange(100_001, dtype=np.float32) * 0.01)
        f.create_dataset("x-coordinate", data=np.linspace(0, 1, 1024, dtype=np.float32))
        f.create_dataset("y-coordinate", data=np.linspace(0, 1, 1024, dtype=np.float32))
    imp(
        "pdebench-huge-trajectory",
        p,
        "rejected",
        "stores",
        "one trajectory of 100000 frames of 1024², unwritten",
    )

    # 2 GiB of zeros deflated into a couple of megabytes, behind an honest header.
    p = folder / "npz_bomb.npz"
    shape = (512, 1024, 1024)
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("density.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_2_0(fh, {"descr": "<f4", "fortran_order": False, "shape": shape})
            block = bytes(64 << 20)
            for _ in range(int(np.prod(shape)) * 4 // len(block)):
                fh.write(block)
    imp(
        "npz-zip-bomb-2GiB",
        p,
        "rejected",
        "zip bomb",
        f"{p.stat().st_size >> 10} KiB inflating to a 2 GiB array",
    )
    # A header claiming far more than its entry holds.
    p = folder / "npz_lying_header.npz"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf, zf.open("density.npy", "w") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f4", "fortran_order": False, "shape": (8, 512, 512)}
        )
        fh.write(bytes(4096))
    imp("npz-lying-header", p, "rejected", "claims", "header says 8 MiB, the entry holds 4 KiB")
    p = folder / "npz_nan.npz"
    d = np.zeros((4, 8, 8), np.float32)
    d[2, 3, 3] = np.inf
    np.savez(p, density=d)
    imp("npz-inf-frame-2", p, "rejected", "frame 2", "Inf in frame 2 of the only trajectory", info=False)
    p = folder / "npz_dt_zero.npz"
    np.savez(p, density=np.zeros((4, 8, 8), np.float32), dt=np.float64(0.0))
    imp("npz-dt-zero", p, "rejected", "dt", "dt = 0 stored beside the frames")
    return cases


# ------------------------------------------------------------------------------------------------ G-code


def _gcode_cases(folder: Path, large: bool = True) -> list[Case]:
    """G-code cases; ``large=False`` leaves out the 2-million-move file (40 MB to write)."""
    rng = np.random.default_rng(0)
    files: dict[str, tuple[str, str, str, str]] = {}  # id -> (text, expect, keyword, note)
    arcs = ["G21", "G90", "G1 X0 Y0 F3000"] + [f"G{2 + i % 2} X0 Y0 I50000 J0 E{i}" for i in range(80)]
    files["gcode-arcs-50m-radius"] = ("\n".join(arcs), "rejected", "budget", "80 full circles of 50 m radius")
    steps = rng.uniform(-0.02, 0.02, size=(2_000_000 if large else 10, 2)).cumsum(axis=0) % 50 + 100
    lines = ["G21", "G90", "G1 F3000"] + [f"G1 X{x:.3f} Y{y:.3f}" for x, y in steps]
    if large:
        files["gcode-2M-tiny-moves"] = (
            "\n".join(lines),
            "rejected",
            "budget",
            "2 million moves of about 0.02 mm",
        )
    files["gcode-feed-1e-4"] = (
        "G21\nG90\nG1 X10 Y10 F3000\nG1 X60 Y60 F0.0001\n",
        "rejected",
        "budget",
        "a 70 mm move at 0.0001 mm/min",
    )
    files["gcode-long-dwells"] = (
        "G21\nG90\nG1 X10 Y10 F3000\n" + "G4 S86000\nG1 X20 Y20\nG1 X10 Y10\n" * 50,
        "rejected",
        "budget",
        "50 dwells of almost a day",
    )
    files["gcode-M117-and-friends"] = (
        "; generated by PrusaSlicer\nG21\nG90\nM82\nM117 Printing...\nM73 P0 R12\nM118 E1 layer 1 of 3\n"
        'M486 S1 A"left bracket"\nM862.3 P "MK3S"\nM106 S255\nG1 X10 Y10 F3000\nG1 X40 Y10 E1.2\n'
        "M73 P50 R6\nG2 X40 Y30 I0 J10 E2\nG1 X10 Y30 E3\nM117 Done!\nM84\n",
        "accepted",
        "",
        "display, progress, object and fan M-codes a slicer writes",
    )
    cases = []
    for cid, (text, expect, keyword, note) in files.items():
        p = folder / f"{cid}.gcode"
        p.write_text(text + "\n")
        cases.append(
            Case(
                cid,
                "hostile-gcode",
                str(p),
                ["import", str(p), "--out", "{out}/" + cid + ".h5"],
                expect,
                keyword,
                note=note,
            )
        )
    return cases


# ------------------------------------------------------------------------------------------------ ONNX


def _onnx_cases(folder: Path, good: Path) -> list[Case]:
    import onnx

    cases = []

    def both(cid: str, path: Path, keyword: str, note: str) -> None:
        bench = ["bench", str(path), "--size", "16", "--steps", "2", "--warmup", "0"]
        cases.append(Case(cid + "@bench", "hostile-onnx", str(path), bench, "rejected", keyword, note=note))
        ev = ["eval", str(path), str(good), "--out", "{out}", "--trajectories", "1", "--horizons", "2"]
        cases.append(Case(cid + "@eval", "hostile-onnx", str(path), ev, "rejected", keyword, note=note))

    def edited(name: str, edit) -> Path:
        model = onnx.load(str(SMOKE_MODEL))
        props = {p.key: p.value for p in model.metadata_props}
        edit(model, props)
        del model.metadata_props[:]
        for k, v in props.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = k, v
        p = folder / name
        onnx.save(model, str(p))
        return p

    both(
        "onnx-history-1e9",
        edited("history_1e9.onnx", lambda m, p: p.update({"fieldcast.history": "1000000000"})),
        "history",
        "metadata declares a history of 10^9 frames",
    )
    both(
        "onnx-nested-metadata",
        edited(
            "nested_meta.onnx", lambda m, p: p.update({"fieldcast.layout": "[" * 100_000 + "]" * 100_000})
        ),
        "nested",
        "fieldcast.layout is 100000 nested lists",
    )

    def wrong_output(model, props) -> None:
        # The graph's last op now keeps 2 of the 3 channels the metadata names (shape left symbolic).
        from onnx import helper

        out = model.graph.output[0]
        for node in model.graph.node:
            node.output[:] = ["raw_next" if o == out.name else o for o in node.output]
        consts = [
            helper.make_tensor(f"keep_{k}", onnx.TensorProto.INT64, [1], [v])
            for k, v in (("start", 0), ("end", 2), ("axis", 1))
        ]
        model.graph.initializer.extend(consts)
        model.graph.node.append(
            helper.make_node("Slice", ["raw_next", "keep_start", "keep_end", "keep_axis"], [out.name])
        )
        dim = out.type.tensor_type.shape.dim[1]
        dim.Clear()
        dim.dim_param = "c"

    both(
        "onnx-output-shape-lies",
        edited("output_lies.onnx", wrong_output),
        "ONNX Runtime",
        "the graph returns 2 channels, the metadata names 3",
    )
    return cases


# ------------------------------------------------------------------------------------------- recipes, runs


def _recipe_cases(folder: Path, good: Path) -> list[Case]:
    import yaml

    base = {
        "system": "smoke",
        "data": {"path": str(good), "batch_size": 2, "max_train_windows": 4, "max_valid_windows": 2},
        "model": {"name": "unet", "args": {"depth": 1, "base_width": 4, "norm": "group", "groups": 2}},
        "train": {"epochs": 1, "max_steps": 2},
    }
    texts: dict[str, tuple[str, str, str]] = {}

    def variant(cid: str, section: str, key: str, value, keyword: str, note: str) -> None:
        data = json.loads(json.dumps(base))
        data.setdefault(section, {})[key] = value
        texts[cid] = (yaml.safe_dump(data), keyword, note)

    variant("recipe-lr-nan", "optim", "lr", float("nan"), "optim.lr", "optim.lr: .nan")
    variant("recipe-lr-inf", "optim", "lr", float("inf"), "optim.lr", "optim.lr: .inf")
    variant("recipe-batch-0", "data", "batch_size", 0, "batch_size", "data.batch_size: 0")
    variant("recipe-epochs-negative", "train", "epochs", -3, "epochs", "train.epochs: -3")
    variant("recipe-epochs-zero", "train", "epochs", 0, "epochs", "train.epochs: 0")
    melt = {
        "system": "melt",
        "task": "recurrent_field",
        "data": {"path": str(good)},
        "model": {"name": "convlstm", "args": {"hidden": 8, "colour_depth": 3}},
    }
    texts["recipe-melt-unknown-key"] = (
        yaml.safe_dump(melt),
        "colour_depth",
        "an unknown model argument of a melt recipe",
    )
    bomb = "a: &a [" + ", ".join(["lol"] * 10) + "]\n"
    for i, name in enumerate("bcdefghij"):
        prev = "abcdefghij"[i]
        bomb += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    bomb += "name: *j\n"
    texts["recipe-alias-bomb"] = (bomb, "expands", "aliases nesting 10 deep: 10^10 values once expanded")
    texts["recipe-deep-nesting"] = (
        "name: " + "[" * 50_000 + "]" * 50_000 + "\n",
        "nested",
        "50000 nested lists",
    )
    texts["recipe-20MB"] = ("# " + "x" * (20 << 20) + "\nname: big\n", "bytes", "a 20 MB recipe")
    cases = []
    for cid, (text, keyword, note) in texts.items():
        p = folder / f"{cid}.yaml"
        p.write_text(text)
        cases.append(
            Case(
                cid,
                "hostile-recipe",
                str(p),
                ["train", str(p), "--runs-dir", "{out}"],
                "rejected",
                keyword,
                note=note,
            )
        )
    return cases


def _run_cases(folder: Path, run: Path, good: Path) -> list[Case]:
    from safetensors.numpy import load_file, save_file

    cases = []

    def copy(cid: str) -> Path:
        dst = folder / cid
        shutil.copytree(
            run, dst, ignore=shutil.ignore_patterns("model*.onnx", "export_report.json", "samples")
        )
        return dst

    def export(cid: str, path: Path, keyword: str, note: str, drop: Path | None = None) -> None:
        cases.append(
            Case(
                cid,
                "hostile-run",
                str(path),
                ["export", str(path)],
                "rejected",
                keyword,
                note=note,
                extra={"must_not_exist": str(path / "model.onnx")},
            )
        )

    weights = sorted((run / "checkpoints").glob("*.safetensors"))
    dst = copy("run-weights-mismatch")
    for w in sorted((dst / "checkpoints").glob("*.safetensors")):
        tensors = load_file(str(w))
        first = sorted(tensors)[0]
        tensors[first] = np.zeros((3, 3), tensors[first].dtype)
        from safetensors import safe_open

        with safe_open(str(w), "np") as fh:
            meta = fh.metadata()
        save_file(tensors, str(w), metadata=meta)
    export(
        "run-weights-mismatch", dst, "weights", "a tensor of the checkpoint has another shape than the model"
    )
    dst = copy("run-weights-huge")
    for w in sorted((dst / "checkpoints").glob("*.safetensors")):
        from safetensors import safe_open

        with safe_open(str(w), "np") as fh:
            meta = fh.metadata()
        tensors = {k: (v * np.float32(1e30)).astype(v.dtype) for k, v in load_file(str(w)).items()}
        save_file(tensors, str(w), metadata=meta)
    export(
        "run-parity-infinite", dst, "parity", "weights scaled by 1e30: infinite outputs, parity not finite"
    )
    dst = copy("run-nested-sidecar")
    for side in (dst / "checkpoints").glob("*.json"):
        side.write_text('{"format": "fieldcast-checkpoint/1", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    export("run-nested-sidecar", dst, "nested", "checkpoint sidecars of 100000 nested lists")
    dst = copy("run-config-alias-bomb")
    bomb = "a: &a [" + ", ".join(["lol"] * 10) + "]\n"
    for i, name in enumerate("bcdefghij"):
        bomb += f"{name}: &{name} [" + ", ".join([f"*{'abcdefghij'[i]}"] * 10) + "]\n"
    (dst / "config.yaml").write_text(bomb + "name: *j\n")
    cases.append(
        Case(
            "run-config-alias-bomb",
            "hostile-run",
            str(dst),
            ["train", "--resume", str(dst), "--runs-dir", "{out}"],
            "rejected",
            "expands",
            note="config.yaml of the run is an alias bomb",
        )
    )
    del weights
    return cases


# ------------------------------------------------------------------------------------------------ the corpus


def build_hostile_corpus(folder: str | os.PathLike, runs: bool = True) -> list[Case]:
    """Write every hostile file into ``folder`` and return the cases; also writes ``hostile.json``.

    ``runs=False`` leaves out the run folders, which need a short training and an export (minutes on a
    busy machine); the commands that take a model are then given the shipped smoke model.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    good = _good_dataset(folder)
    run = _trained_run(folder, good) if runs else None
    model = run / "model.onnx" if run is not None else SMOKE_MODEL
    cases = _hdf5_cases(folder, good, model)
    cases += _import_cases(folder)
    cases += _gcode_cases(folder)
    cases += _onnx_cases(folder, good)
    cases += _recipe_cases(folder, good)
    if run is not None:
        cases += _run_cases(folder, run, good)
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    (folder / "hostile.json").write_text(json.dumps([asdict(c) for c in cases], indent=1))
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write the corpus into")
    args = parser.parse_args(argv)
    cases = build_hostile_corpus(args.out)
    for c in cases:
        print(f"{c.id:<36} {c.consumer:<18} {c.expect:<9} {c.path}")
    print(f"{len(cases)} cases in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
