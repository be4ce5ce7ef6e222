"""The data layer: The Well-layout HDF5 store, lazy reading, splits, statistics, validation, importers.

Typical use::

    with DatasetWriter(path, spec, n_frames=T, grid=(nx, ny), dt=spec.dt) as w:
        w.append({"density": rho, "velocity": vel})       # one trajectory
    ds = open_dataset(path)
    x = ds.read_window(traj, start, length)                # (length, C, nx, ny) float32
    train = ds.windows("train", length)
"""

from fieldcast.engine.data.edit import iter_set_splits, recompute_stats, set_splits
from fieldcast.engine.data.importers import (
    ImportReport,
    detect_format,
    import_file,
    open_source,
    parse_map_args,
)
from fieldcast.engine.data.probe import ProbeResult, describe_file, probe_file
from fieldcast.engine.data.reader import FieldDataset, open_dataset
from fieldcast.engine.data.splits import (
    SPLIT_NAMES,
    segments_from_recipe,
    split_by_time,
    split_by_trajectory,
    split_explicit,
)
from fieldcast.engine.data.store import DatasetError
from fieldcast.engine.data.validate import check_file, iter_validate, validate_dataset
from fieldcast.engine.data.writer import DatasetWriter

__all__ = [
    "SPLIT_NAMES",
    "DatasetError",
    "DatasetWriter",
    "FieldDataset",
    "ImportReport",
    "ProbeResult",
    "check_file",
    "describe_file",
    "detect_format",
    "import_file",
    "iter_set_splits",
    "iter_validate",
    "open_dataset",
    "open_source",
    "parse_map_args",
    "probe_file",
    "recompute_stats",
    "segments_from_recipe",
    "set_splits",
    "split_by_time",
    "split_by_trajectory",
    "split_explicit",
    "validate_dataset",
]
