"""NPZ frame sequences as Blender/Mantaflow pipelines write them.

Accepted layouts (arrays named by field: ``density``, ``vel_x``/``vel_z`` or ``velocity`` ``(nx, ny, 2)``,
``emitter``, ``collider`` ...):

- one ``.npz`` per sequence: arrays ``(T, nx, ny)`` or ``(T, nx, ny, k)``; a folder of such files holds
  one trajectory per file;
- a folder of per-frame ``.npz`` files (arrays ``(nx, ny)`` or ``(nx, ny, k)``), frames in natural name
  order, one trajectory; a folder of such folders holds one trajectory per sub-folder.

Size-1 axes are dropped (Mantaflow writes 2D grids as ``(1, ny, nx, 1)``). Rank-0 arrays are metadata:
``dt`` sets the time step, other numbers become simulation parameters. ``axes="yx"`` reads arrays stored
row = y (numpy images, Mantaflow) and transposes them to Fieldcast's (x, y).

Arrays are always loaded with ``allow_pickle=False``; headers are read first, so an object array or an
absurd shape is refused before anything is allocated.
"""

from __future__ import annotations

import math
import re
import zipfile
from pathlib import Path

import numpy as np

from fieldcast.engine.data.importers.base import Source
from fieldcast.engine.data.store import MAX_AXIS, MAX_FRAMES, DatasetError
from fieldcast.engine.limits import BudgetError, check_budget, format_bytes

__all__ = ["NpzSource", "looks_like_npz"]

# An array of hundreds of megabytes that deflates more than 200-fold holds almost no information (zeros):
# decompressing and writing it would take minutes for nothing, so it is refused as a zip bomb.
_BOMB_FROM_BYTES = 256 << 20
_BOMB_RATIO = 200
_MAX_ARRAY_BYTES = 1 << 34  # 16 GiB for one array is beyond any frame sequence we expect: a crafted header


def looks_like_npz(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".npz"
    return path.is_dir() and (any(path.glob("*.npz")) or any(path.glob("*/*.npz")))


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def _read_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array in an NPZ file, without loading any."""
    out = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                name = info.filename[:-4]
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                    else:
                        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                if dtype.hasobject:
                    raise DatasetError(
                        path, f"array '{name}' holds Python objects; Fieldcast never unpickles data"
                    )
                if any(s < 0 for s in shape) or math.prod(shape) * dtype.itemsize > _MAX_ARRAY_BYTES:
                    raise DatasetError(path, f"array '{name}' claims shape {shape}, an absurd size")
                nbytes = math.prod(shape) * dtype.itemsize
                if info.file_size > _BOMB_FROM_BYTES and info.compress_size * _BOMB_RATIO < info.file_size:
                    fold = info.file_size // max(info.compress_size, 1)
                    raise DatasetError(
                        path,
                        f"array '{name}' inflates from {format_bytes(info.compress_size)} to "
                        f"{format_bytes(info.file_size)} ({fold:,}-fold): a zip bomb, not simulation data",
                    )
                if info.file_size < nbytes:
                    raise DatasetError(
                        path,
                        f"array '{name}' claims shape {shape} ({format_bytes(nbytes)}) but its entry holds "
                        f"{format_bytes(info.file_size)} (damaged or crafted header)",
                    )
                # A C-order array is read frame by frame; a Fortran-order one (or a single frame) in one
                # piece, then converted to float32: what is read at once must fit the budget.
                # (nx, ny) and (nx, ny, k) may be one frame of a folder of frames: counted whole.
                whole = fortran or len(shape) <= 2 or (len(shape) == 3 and shape[2] <= 3)
                count = math.prod(shape if whole else shape[1:])
                try:
                    what = f"array '{name}' of shape {shape} ({dtype})" + ("" if whole else ", one frame")
                    check_budget(count * (dtype.itemsize + 4), what)
                except BudgetError as exc:
                    raise DatasetError(path, str(exc)) from None
                out[name] = (tuple(int(s) for s in shape), dtype)
    except DatasetError:
        raise  # already one clear line (a DatasetError is a ValueError: do not wrap it again)
    except zipfile.BadZipFile:
        raise DatasetError(path, "not an NPZ archive (damaged or truncated zip)") from None
    except (ValueError, EOFError, OSError) as exc:
        raise DatasetError(path, f"damaged NPZ array header ({exc})") from None
    if not out:
        raise DatasetError(path, "NPZ archive holds no arrays")
    return out


def _load(path: Path, name: str) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return npz[name]
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise DatasetError(path, f"cannot read array '{name}' ({exc})") from None


class NpzSource(Source):
    """Trajectories from NPZ files; see the module docstring for the layouts."""

    def __init__(self, path: str | Path, axes: str = "xy") -> None:
        self.path = Path(path)
        if axes not in ("xy", "yx"):
            raise ValueError(f"axes must be 'xy' or 'yx', got {axes!r}")
        self.axes = axes
        self.parameters = {}
        self.dt = 1.0
        self._trajectories = self._find_trajectories()
        self._arrays: dict[str, tuple[int, str]] = {}  # array name -> (n components, kind)
        self._scan()

    # -- layout -----------------------------------------------------------------------------------------
    def _find_trajectories(self) -> list[list[Path]]:
        p = self.path
        if not p.exists():
            raise DatasetError(p, "not found")
        if p.is_file():
            return [[p]]
        files = sorted(p.glob("*.npz"), key=_natural_key)
        if files:
            return [files]  # frames or sequences; decided in _scan
        subdirs = [d for d in sorted(p.iterdir(), key=_natural_key) if d.is_dir() and any(d.glob("*.npz"))]
        if not subdirs:
            raise DatasetError(p, "folder holds no .npz files")
        return [sorted(d.glob("*.npz"), key=_natural_key) for d in subdirs]

    def _field_arrays(self, path: Path, headers) -> dict[str, tuple[int, ...]]:
        fields = {}
        for name, (shape, dtype) in headers.items():
            if len(shape) == 0:
                continue
            if dtype.kind not in "biuf":
                raise DatasetError(path, f"array '{name}' has dtype {dtype}; expected numbers")
            fields[name] = shape
        if not fields:
            raise DatasetError(path, "holds no field arrays (only scalars)")
        return fields

    def _scan(self) -> None:
        first = self._trajectories[0][0]
        headers = _read_headers(first)
        fields = self._field_arrays(first, headers)
        self._read_scalars(first, headers)
        squeezed = {n: tuple(s for s in shape if s != 1) for n, shape in fields.items()}
        per_frame = min(len(s) for s in squeezed.values()) <= 2 and all(
            len(s) <= 3 for s in squeezed.values()
        )
        if per_frame and self.path.is_file():
            per_frame = False  # one file is a sequence, possibly of one frame
        self._per_frame = per_frame
        if not per_frame and len(self._trajectories) == 1 and len(self._trajectories[0]) > 1:
            self._trajectories = [[f] for f in self._trajectories[0]]  # folder of sequence files
        self._frame_shapes = {}
        for name, shape in fields.items():
            frame_shape = shape if per_frame else shape[1:]
            self._frame_shapes[name] = tuple(s for s in frame_shape if s != 1)
        self.n_frames = len(self._trajectories[0]) if per_frame else next(iter(fields.values()))[0]
        self._check_frames(first, fields)
        grid = None
        channels = []
        for name, fs in self._frame_shapes.items():
            if len(fs) == 2:
                comps = [name]
            elif len(fs) == 3 and fs[2] <= 3:
                comps = [f"{name}_{a}" for a in "xyz"[: fs[2]]]
            else:
                raise DatasetError(
                    first, f"array '{name}' has frame shape {fs}; expected (nx, ny) or (nx, ny, k)"
                )
            g = fs[:2] if self.axes == "xy" else (fs[1], fs[0])
            if grid is None:
                grid = g
            elif g != grid:
                raise DatasetError(first, f"array '{name}' has grid {g}, others have {grid}")
            channels += comps
        if min(grid) < 2 or max(grid) > MAX_AXIS:
            raise DatasetError(first, f"grid {grid} is not a usable 2D grid")
        self.grid = (int(grid[0]), int(grid[1]))
        self.channels = channels
        self.n_trajectories = len(self._trajectories)
        self.format = "npz-frames" if per_frame else "npz-sequence"
        self._verify_all()

    def _check_frames(self, path: Path, fields) -> None:
        if not 1 <= self.n_frames <= MAX_FRAMES:
            raise DatasetError(path, f"has {self.n_frames} frames; expected at least one")
        if not self._per_frame:
            lengths = {n: s[0] for n, s in fields.items()}
            if len(set(lengths.values())) > 1:
                raise DatasetError(path, f"arrays have different numbers of frames: {lengths}")

    def _verify_all(self) -> None:
        # Every file must carry the same arrays with the same shapes as the first; checked from headers
        # so a bad frame 900 is reported before a long import starts, not after.
        ref = None
        for files in self._trajectories:
            for f in files:
                headers = _read_headers(f)
                shapes = {n: s for n, (s, _) in headers.items() if len(s)}
                if ref is None:
                    ref = shapes
                elif shapes != ref:
                    missing = sorted(set(ref) - set(shapes))
                    detail = f"lacks arrays {missing}" if missing else f"has shapes {shapes}, expected {ref}"
                    raise DatasetError(f, detail)
                self._field_arrays(f, headers)

    def _read_scalars(self, path: Path, headers) -> None:
        for name, (shape, dtype) in headers.items():
            if len(shape) == 0 and dtype.kind in "biuf":
                value = float(_load(path, name))
                if name.lower() == "dt":
                    if not (math.isfinite(value) and value > 0):
                        raise DatasetError(path, f"dt = {value} is not a positive time step")
                    self.dt = value
                elif math.isfinite(value):
                    self.parameters[name] = value

    # -- data -------------------------------------------------------------------------------------------
    def _split(self, name: str, arr: np.ndarray) -> dict[str, np.ndarray]:
        """``(T, ...)`` array -> channels ``(T, nx, ny)`` in (x, y) order."""
        fs = self._frame_shapes[name]
        arr = arr.reshape((arr.shape[0], *fs)).astype(np.float32, copy=False)
        if self.axes == "yx":
            arr = np.swapaxes(arr, 1, 2)
        if len(fs) == 2:
            return {name: np.ascontiguousarray(arr)}
        return {f"{name}_{a}": np.ascontiguousarray(arr[..., k]) for k, a in enumerate("xyz"[: fs[2]])}

    streams = True

    def read_trajectory(self, index: int) -> dict[str, np.ndarray]:
        return self.read_frames(index, 0, self.n_frames)

    def read_frames(self, index: int, start: int, stop: int) -> dict[str, np.ndarray]:
        files = self._trajectories[index]
        out: dict[str, np.ndarray] = {}
        for name in self._frame_shapes:
            if self._per_frame:
                arr = np.stack([_load(f, name) for f in files[start:stop]])
            else:
                arr = self._sequence_frames(files[0], name, start, stop)
            out.update(self._split(name, arr))
        return out

    def _sequence_frames(self, path: Path, name: str, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` of array ``name`` of a sequence file, decompressed as they are read.

        The member stays open between calls, so pieces read in order decompress the array once.
        """
        streams: dict = self.__dict__.setdefault("_streams", {})
        key = (path, name)
        state = streams.get(key)
        if state is None or state["next"] != start:
            if state is not None:
                state["zip"].close()
            for other in [k for k in streams if k[0] != path]:  # another trajectory: let its files go
                streams.pop(other)["zip"].close()
            try:
                zf = zipfile.ZipFile(path)
                fh = zf.open(f"{name}.npy")
                version = np.lib.format.read_magic(fh)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(fh)
            except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
                if "zf" in locals():
                    zf.close()
                raise DatasetError(path, f"cannot read array '{name}' ({exc})") from None
            if fortran or dtype.hasobject:  # Fortran order cannot be cut into frames: the whole array
                zf.close()
                return _load(path, name)[start:stop]
            state = {"zip": zf, "fh": fh, "shape": shape, "dtype": dtype, "next": 0}
            streams[key] = state
        shape, dtype = state["shape"], state["dtype"]
        frame = math.prod(shape[1:]) * dtype.itemsize
        try:
            if start > state["next"]:
                state["fh"].read((start - state["next"]) * frame)
            data = state["fh"].read((stop - start) * frame)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            streams.pop(key)["zip"].close()
            raise DatasetError(path, f"cannot read array '{name}' ({exc})") from None
        if len(data) != (stop - start) * frame:
            streams.pop(key)["zip"].close()
            raise DatasetError(path, f"array '{name}' ends before frame {stop} (truncated entry)")
        state["next"] = stop
        if stop >= shape[0]:  # the last frames: nothing more to read from this member
            streams.pop(key)["zip"].close()
        return np.frombuffer(data, dtype=dtype).reshape((stop - start, *shape[1:]))

    def close(self) -> None:
        for state in self.__dict__.pop("_streams", {}).values():
            state["zip"].close()
        super().close()
