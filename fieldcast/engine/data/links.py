"""Refusing HDF5 objects whose data lives in another file: external links, virtual datasets, external storage.

A Well file that reads its fields from another file would have Fieldcast describe, validate and train on
data the user never opened (and statistics stored for one file would describe another). Every dataset a
reader takes data from goes through :func:`check_dataset_source` first.
"""

from __future__ import annotations

import os

from fieldcast.engine.data.store import DatasetError
from fieldcast.engine.limits import short

__all__ = ["check_dataset_source", "check_stored_bytes"]

# Deflate cannot shrink data more than about 1030 times; a dataset declaring far more bytes than it stores
# was never written (a crafted header or an unfinished copy), and reading it would return fill values.
MAX_STORED_RATIO = 5000
RATIO_FROM_BYTES = 64 << 20


def check_stored_bytes(dataset, where: str, path: str | os.PathLike) -> None:
    """DatasetError when ``dataset`` declares far more bytes than the file stores for it."""
    import math

    from fieldcast.engine.limits import format_bytes

    declared = math.prod(dataset.shape or ()) * dataset.dtype.itemsize
    if declared < RATIO_FROM_BYTES:
        return
    stored = int(dataset.id.get_storage_size())
    if stored * MAX_STORED_RATIO < declared:
        raise DatasetError(
            path,
            f"'{where}' declares {format_bytes(declared)} of data but the file stores "
            f"{format_bytes(stored)} of it (unwritten or crafted; refusing to read fill values as data)",
        )


def check_dataset_source(group, name: str, where: str, path: str | os.PathLike):
    """The dataset ``group[name]`` when its data is in this file; None when there is no such dataset.

    Raises :class:`DatasetError` for an external link, a soft-link cycle, a virtual dataset with a source
    in another file, or raw data stored in external files.
    """
    import h5py

    try:
        link = group.get(name, getlink=True)
    except (KeyError, RuntimeError, OSError) as exc:
        raise DatasetError(path, f"'{where}' cannot be resolved ({short(exc, 120)})") from None
    if link is None:
        return None
    if isinstance(link, h5py.ExternalLink):
        raise DatasetError(
            path,
            f"'{where}' is an external link to {short(link.filename, 120)}:{short(link.path, 80)}; "
            "Fieldcast reads only data stored in the file itself",
        )
    try:
        obj = group[name]
    except (KeyError, RuntimeError, OSError) as exc:
        # A soft link to itself or a cycle of them: libhdf5 says "too many links".
        raise DatasetError(path, f"'{where}' is a broken or circular link ({short(exc, 120)})") from None
    if not isinstance(obj, h5py.Dataset):
        return None
    if obj.is_virtual:
        for source in obj.virtual_sources():
            if source.file_name not in (".", os.fspath(path)):
                raise DatasetError(
                    path,
                    f"'{where}' is a virtual dataset reading from {short(source.file_name, 120)}; "
                    "Fieldcast reads only data stored in the file itself",
                )
    if obj.external:
        raise DatasetError(
            path, f"'{where}' keeps its data in external files; Fieldcast reads only the file itself"
        )
    return obj
