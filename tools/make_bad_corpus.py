"""Build a corpus of bad and hostile files, each with the consumer that must refuse it and how.

Usage::

    python tools/make_bad_corpus.py OUT_DIR

writes the files into ``OUT_DIR`` with ``corpus.json`` listing every case: its id, the file, the
``fieldcast`` command line that consumes it, the expected outcome there, and what a drop on the window
must do. The reliability tests (``tests/reliability``) and ``tools/reliability_report.py`` build the
corpus with :func:`build_corpus` and feed every case to the CLI and to the main window.

Outcomes
--------
``rejected``  exit code 2 and exactly one stderr line naming the file and the problem (``keyword``).
``reported``  the command describes the file (exit 0) and its output names the problem (``keyword``).
``survived``  a randomly damaged file: either ``rejected`` or a clean description; never a traceback.

GUI outcomes: ``message`` (the panel that opens the suffix says why, naming the file) or ``refused`` (no
panel opens such a file and the window says so, naming it).

Hostile payloads (pickles) write ``MARKER_NAME`` beside the corpus if they are ever executed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import struct
import sys
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import numpy as np

__all__ = ["MARKER_NAME", "Case", "build_corpus", "load_corpus"]

MARKER_NAME = "PAYLOAD_EXECUTED"
SMOKE_MODEL = (
    Path(__file__).resolve().parents[1] / "fieldcast" / "resources" / "models" / "smoke_default.onnx"
)


@dataclass
class Case:
    """One bad input.

    Attributes
    ----------
    id : short unique name.
    kind : family: ``hdf5``, ``well``, ``npz``, ``checkpoint``, ``safetensors``, ``onnx``, ``gcode``,
        ``recipe``.
    path : the file (or run folder) that is bad.
    argv : ``fieldcast`` arguments consuming it (``{out}`` is replaced by a scratch folder).
    expect : CLI outcome, ``rejected``, ``reported`` or ``survived``.
    keyword : text the message must contain (case-insensitive); empty for ``survived``.
    gui : ``message`` or ``refused``; ``drop`` is what is dropped on the window (default ``path``).
    """

    id: str
    kind: str
    path: str
    argv: list[str]
    expect: str
    keyword: str = ""
    gui: str = "message"
    drop: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def consumer(self) -> str:
        return "fieldcast " + self.argv[0]


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: proof that code from the file ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


# ------------------------------------------------------------------------------------------------ HDF5


def _base_dataset(folder: Path) -> Path:
    """A real small smoke dataset made by the reference solver (2 trajectories, 16 x 16)."""
    from fieldcast.engine.generation import generate_dataset

    path = folder / "_base_smoke.h5"
    for _ in generate_dataset("smoke", path, trajectories=2, frames=5, size=16, seed=0):
        pass
    return path


def _copy_edit(base: Path, out: Path, edit: Callable[[h5py.File], None]) -> Path:
    out.write_bytes(base.read_bytes())
    with h5py.File(out, "r+") as f:
        edit(f)
    return out


def _replace(f: h5py.File, name: str, data: np.ndarray) -> None:
    attrs = dict(f[name].attrs)
    del f[name]
    d = f.create_dataset(name, data=data)
    d.attrs.update(attrs)


def _recreate_dim(f: h5py.File, axis: str, n: int) -> None:
    attrs = dict(f["dimensions"][axis].attrs)
    del f["dimensions"][axis]
    d = f["dimensions"].create_dataset(
        axis, shape=(n,), dtype=np.float32, chunks=(1024,) if n > 1024 else None
    )
    d.attrs.update(attrs)


def _flip(data: bytes, positions: list[int]) -> bytes:
    buf = bytearray(data)
    for pos in positions:
        buf[pos] ^= 0x10
    return bytes(buf)


def _hdf5_cases(folder: Path) -> list[Case]:
    base = _base_dataset(folder)
    raw = base.read_bytes()
    cases: list[Case] = []

    def info(cid: str, path: Path, expect: str, keyword: str, note: str = "") -> None:
        cases.append(Case(cid, "hdf5", str(path), ["info", str(path)], expect, keyword, note=note))

    for frac in (0.1, 0.5):
        p = folder / f"truncated_{int(frac * 100)}.h5"
        p.write_bytes(raw[: int(len(raw) * frac)])
        info(f"h5-truncated-{int(frac * 100)}", p, "rejected", "", f"first {int(frac * 100)} % of the bytes")
    p = folder / "bitflip_signature.h5"
    p.write_bytes(_flip(raw, [1]))
    info("h5-bitflip-signature", p, "rejected", "not an HDF5", "a bit of the HDF5 signature flipped")
    rng = np.random.default_rng(2024)
    regions = {"superblock": (8, 96), "metadata": (96, 4096), "body": (4096, len(raw))}
    for name, (lo, hi) in regions.items():
        for k in range(1):
            p = folder / f"bitflip_{name}_{k}.h5"
            positions = sorted(int(x) for x in rng.integers(lo, hi, size=4))
            p.write_bytes(_flip(raw, positions))
            info(f"h5-bitflip-{name}-{k}", p, "survived", "", f"4 bits flipped in the {name} at {positions}")
    p = folder / "notes.h5"
    p.write_text("These are my lab notes, not data.\n" * 30)
    info("h5-text-file", p, "rejected", "not an HDF5", "a text file named .h5")
    p = folder / "empty.h5"
    p.write_bytes(b"")
    info("h5-empty", p, "rejected", "empty")

    def drop_group(name: str) -> Callable[[h5py.File], None]:
        return lambda f: f.__delitem__(name)

    def drop_fields(f: h5py.File) -> None:
        for g in ("t0_fields", "t1_fields", "t2_fields"):
            del f[g]

    well = [
        ("well-missing-dimensions", drop_group("dimensions"), "rejected", "dimensions"),
        ("well-missing-field-groups", drop_fields, "rejected", "missing group"),
        (
            "well-wrong-rank",
            lambda f: _replace(f, "t0_fields/density", np.zeros((2, 5, 16), np.float32)),
            "rejected",
            "rank",
        ),
        (
            "well-wrong-rank-vector",
            lambda f: _replace(f, "t1_fields/velocity", np.zeros((2, 5, 16, 16), np.float32)),
            "rejected",
            "velocity",
        ),
        ("well-zero-length-time", lambda f: _recreate_dim(f, "time", 0), "rejected", "zero length"),
        (
            "well-zero-trajectories",
            lambda f: f.attrs.__setitem__("n_trajectories", 0),
            "rejected",
            "no trajectories",
        ),
        ("well-enormous-axis", lambda f: _recreate_dim(f, "x", 10**7), "rejected", "absurd size"),
        (
            "well-enormous-trajectories",
            lambda f: f.attrs.__setitem__("n_trajectories", 2**40),
            "rejected",
            "absurd size",
        ),
        (
            "well-nan",
            lambda f: f["t0_fields/density"].__setitem__((1, 3, 4, 4), np.nan),
            "reported",
            "NaN or Inf",
        ),
        (
            "well-inf",
            lambda f: f["t1_fields/velocity"].__setitem__((0, 1, 2, 2, 1), np.inf),
            "reported",
            "NaN or Inf",
        ),
        ("well-broken-meta", lambda f: f.attrs.__setitem__("fieldcast", "{oops"), "rejected", "JSON"),
        ("well-3d", lambda f: f.attrs.__setitem__("n_spatial_dims", 3), "rejected", "2D"),
    ]
    for cid, edit, expect, keyword in well:
        p = _copy_edit(base, folder / f"{cid}.h5", edit)
        cases.append(Case(cid, "well", str(p), ["info", str(p)], expect, keyword))
    base.unlink()
    return cases


# ------------------------------------------------------------------------------------------------ NPZ


def _npz_cases(folder: Path) -> list[Case]:
    cases = []
    p = folder / "object_array.npz"
    # Written by hand so the payload is a pickle that would create the marker if numpy ever unpickled it.
    marker = str(folder / MARKER_NAME)
    header = {"descr": "|O", "fortran_order": False, "shape": (1,)}
    with zipfile.ZipFile(p, "w") as zf, zf.open("density.npy", "w") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(pickle.dumps(np.array([_Payload(marker)], dtype=object), protocol=3))
    cases.append(
        Case(
            "npz-object-array",
            "npz",
            str(p),
            ["import", str(p), "--out", "{out}/obj.h5"],
            "rejected",
            "Python objects",
            note="object array whose pickle would create the marker file",
        )
    )
    p = folder / "object_plain.npz"
    np.savez(p, density=np.array([{"a": 1}, None], dtype=object))
    cases.append(
        Case(
            "npz-object-dicts",
            "npz",
            str(p),
            ["import", str(p), "--out", "{out}/obj2.h5"],
            "rejected",
            "Python objects",
        )
    )
    p = folder / "not_zip.npz"
    p.write_text("hello")
    cases.append(
        Case("npz-not-zip", "npz", str(p), ["import", str(p), "--out", "{out}/nz.h5"], "rejected", "NPZ")
    )
    return cases


# ------------------------------------------------------------------------------------------------ checkpoints


def _tiny_recipe(data: str) -> dict:
    return {
        "system": "smoke",
        "data": {"path": data, "batch_size": 2, "max_train_windows": 4, "max_valid_windows": 2},
        "model": {
            "name": "unet",
            "args": {"depth": 1, "base_width": 4, "norm": "group", "groups": 2, "bottleneck_blocks": 0},
        },
        "rollout": {"steps": 1},
        "train": {"epochs": 1, "max_steps": 2},
    }


def _safetensors_bytes(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    from safetensors.numpy import save

    return save(tensors, metadata=metadata)


def _run_folder(folder: Path, name: str, data: Path, weights: bytes, pt: bytes) -> Path:
    """A run folder whose ``checkpoints/last.*`` hold the given bytes (sidecar at step 3)."""
    import yaml

    run = folder / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"name": name, **_tiny_recipe(str(data))}))
    (run / "checkpoints" / "last.safetensors").write_bytes(weights)
    (run / "checkpoints" / "last.pt").write_bytes(pt)
    sidecar = {"format": "fieldcast-checkpoint/1", "step": 3, "epoch": 0, "model": {"name": "unet"}}
    (run / "checkpoints" / "last.json").write_text(json.dumps(sidecar))
    return run


def _torch_zip_with(pickled: bytes) -> bytes:
    """A torch.save zip archive whose ``data.pkl`` is replaced by ``pickled``."""
    import torch

    buf = io.BytesIO()
    torch.save({"step": 3}, buf)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            body = pickled if item.filename.endswith("/data.pkl") else src.read(item.filename)
            dst.writestr(item, body)
    return out.getvalue()


def _checkpoint_cases(folder: Path, data: Path) -> list[Case]:
    marker = str(folder / MARKER_NAME)
    good = _safetensors_bytes(
        {"w": np.zeros(4, np.float32)}, {"format": "fieldcast-checkpoint/1", "step": "3"}
    )
    payload = pickle.dumps({"step": 3, "optimizer": _Payload(marker)}, protocol=2)
    cases = []

    def resume(cid: str, kind: str, run: Path, keyword: str, drop: Path, note: str) -> None:
        cases.append(
            Case(
                cid,
                kind,
                str(run),
                ["train", "--resume", str(run), "--runs-dir", "{out}"],
                "rejected",
                keyword,
                gui="refused",
                drop=str(drop),
                note=note,
            )
        )

    for cid, pt, note in (
        ("pt-pickle-payload-zip", _torch_zip_with(payload), "torch zip whose data.pkl calls open(marker)"),
        ("pt-pickle-payload-raw", payload, "a bare pickle that calls open(marker)"),
        ("pt-truncated", _torch_zip_with(payload)[:100], "first 100 bytes of a torch archive"),
    ):
        run = _run_folder(folder, cid, data, good, pt)
        resume(cid, "checkpoint", run, "last.pt", run / "checkpoints" / "last.pt", note)

    valid = _safetensors_bytes({"w": np.zeros(64, np.float32)}, {"step": "3"})
    (n,) = struct.unpack("<Q", valid[:8])
    header = json.loads(valid[8 : 8 + n])
    header["w"]["data_offsets"] = [0, 1 << 40]
    lying = json.dumps(header).encode()
    beyond = struct.pack("<Q", len(lying)) + lying + valid[8 + n :]
    absurd = struct.pack("<Q", 1 << 62) + valid[8:]
    for cid, weights, note in (
        ("st-offsets-beyond-file", beyond, "tensor offsets claim 1 TiB in a tiny file"),
        ("st-absurd-header-length", absurd, "header length 2^62 bytes"),
        ("st-garbage", b"\x00" * 7, "seven zero bytes"),
    ):
        run = _run_folder(folder, cid, data, weights, _torch_zip_with(pickle.dumps({"step": 3})))
        resume(cid, "safetensors", run, "last.safetensors", run / "checkpoints" / "last.safetensors", note)
    return cases


# ------------------------------------------------------------------------------------------------ ONNX


def _onnx_cases(folder: Path) -> list[Case]:
    import onnx
    from onnx import TensorProto, helper

    cases = []

    def bench(cid: str, path: Path, keyword: str, note: str) -> None:
        argv = ["bench", str(path), "--size", "16", "--steps", "1", "--warmup", "0"]
        cases.append(Case(cid, "onnx", str(path), argv, "rejected", keyword, note=note))

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "foreign",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
    )
    p = folder / "foreign.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(p))
    bench("onnx-foreign", p, "fieldcast", "a valid ONNX graph with no Fieldcast metadata")

    raw = SMOKE_MODEL.read_bytes()
    for frac in (0.01, 0.5):
        p = folder / f"truncated_{int(frac * 100)}.onnx"
        p.write_bytes(raw[: int(len(raw) * frac)])
        bench(f"onnx-truncated-{int(frac * 100)}", p, "", f"first {frac:.0%} of the shipped model")
    p = folder / "garbage.onnx"
    p.write_bytes(bytes(range(256)) * 8)
    bench("onnx-garbage", p, "", "2 KiB of counting bytes")

    def external(cid: str, location: str, note: str, keyword: str, setup: Callable[[Path], None]) -> None:
        sub = folder / cid
        sub.mkdir()
        model = onnx.load(str(SMOKE_MODEL))
        tensor = max(model.graph.initializer, key=lambda t: len(t.raw_data))
        blob = tensor.raw_data
        tensor.ClearField("raw_data")
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", str(len(blob)))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        setup(sub)
        (folder / "outside_secret.bin").write_bytes(blob)
        p = sub / "model.onnx"
        onnx.save(model, str(p))
        bench(cid, p, keyword, note)

    external(
        "onnx-external-parent",
        "../outside_secret.bin",
        "external data ../outside_secret.bin",
        "outside",
        lambda d: None,
    )
    external(
        "onnx-external-absolute",
        str(folder / "outside_secret.bin"),
        "external data by absolute path",
        "outside",
        lambda d: None,
    )
    external(
        "onnx-external-symlink",
        "weights.bin",
        "external data weights.bin is a symlink leading out of the folder",
        "symlink",
        lambda d: (d / "weights.bin").symlink_to(folder / "outside_secret.bin"),
    )

    model = onnx.load(str(SMOKE_MODEL))
    model.graph.input[0].name = "pixels"
    for node in model.graph.node:
        node.input[:] = ["pixels" if i == "fields" else i for i in node.input]
    p = folder / "wrong_inputs.onnx"
    onnx.save(model, str(p))
    bench("onnx-wrong-inputs", p, "signature", "input renamed fields -> pixels")
    model = onnx.load(str(SMOKE_MODEL))
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 5
    p = folder / "wrong_channels.onnx"
    onnx.save(model, str(p))
    bench("onnx-wrong-channels", p, "channels", "input declares 5 channels, metadata names 6")
    return cases


# -------------------------------------------------------------------------------------------- G-code, recipes


def _gcode_cases(folder: Path) -> list[Case]:
    texts = {
        "gcode-garbage": (bytes(range(1, 256)) * 40, "binary noise named .gcode", "line"),
        "gcode-huge-numbers": (b"G21\nG90\nG1 X1e300 Y5 F3000\n", "X1e300", "X"),
        "gcode-huge-feed": (b"G21\nG90\nG1 X10 Y10 F1e12\n", "F1e12", "feed"),
        "gcode-nan": (b"G21\nG90\nG1 X10 Y10 F3000\nG1 Xnan Y3\n", "Xnan", "line"),
        "gcode-no-moves": (b"; nothing but comments\nM104 S200\n", "no XY moves", "no XY moves"),
    }
    cases = []
    for cid, (body, note, keyword) in texts.items():
        p = folder / f"{cid}.gcode"
        p.write_bytes(body)
        argv = ["import", str(p), "--out", f"{{out}}/{cid}.h5"]
        cases.append(Case(cid, "gcode", str(p), argv, "rejected", keyword, note=note))
    return cases


def _recipe_cases(folder: Path, data: Path) -> list[Case]:
    import yaml

    base = _tiny_recipe(str(data))
    variants = {
        "recipe-wrong-type": ({"data": {**base["data"], "batch_size": "lots"}}, "data.batch_size"),
        "recipe-unknown-key": ({"train": {**base["train"], "epocs": 3}}, "epocs"),
        "recipe-bad-yaml": (None, "YAML"),
        "recipe-python-tag": (None, "YAML"),
    }
    cases = []
    marker = folder / MARKER_NAME
    for cid, (change, keyword) in variants.items():
        p = folder / f"{cid}.yaml"
        if cid == "recipe-bad-yaml":
            p.write_text("train: {epochs: [1, 2\nmodel: :\n")
        elif cid == "recipe-python-tag":
            p.write_text(f"!!python/object/apply:builtins.open ['{marker}', 'w']\n")
        else:
            p.write_text(yaml.safe_dump({**base, **change}))
        argv = ["train", str(p), "--runs-dir", "{out}"]
        cases.append(Case(cid, "recipe", str(p), argv, "rejected", keyword))
    return cases


# ------------------------------------------------------------------------------------------------ the corpus


def build_corpus(folder: str | os.PathLike) -> list[Case]:
    """Write every bad file into ``folder`` (created) and return the cases; also writes ``corpus.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cases = _hdf5_cases(folder)
    good = folder / "good_smoke.h5"
    from fieldcast.engine.generation import generate_dataset

    for _ in generate_dataset("smoke", good, trajectories=2, frames=5, size=16, seed=1):
        pass
    cases += _npz_cases(folder)
    cases += _checkpoint_cases(folder, good)
    cases += _onnx_cases(folder)
    cases += _gcode_cases(folder)
    cases += _recipe_cases(folder, good)
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    (folder / "corpus.json").write_text(json.dumps([asdict(c) for c in cases], indent=1))
    return cases


def load_corpus(folder: str | os.PathLike) -> list[Case]:
    """The cases of a corpus written by :func:`build_corpus`."""
    return [Case(**c) for c in json.loads((Path(folder) / "corpus.json").read_text())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write the corpus into")
    args = parser.parse_args(argv)
    cases = build_corpus(args.out)
    for c in cases:
        print(f"{c.id:<32} {c.consumer:<18} {c.expect:<9} {c.path}")
    print(f"{len(cases)} cases in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
