"""Exported models name their data and checkpoint by file name and content hash, never by a path of the
machine they were made on."""

from __future__ import annotations

import hashlib
import json

import onnx
import pytest

from fieldcast.resources import resource_path
from fieldcast.training.export_onnx import provenance


def _no_absolute_paths(value) -> bool:
    text = json.dumps(value)
    return not any(marker in text for marker in ('"/', ":\\\\", '"~'))


def test_provenance_keeps_names_and_hashes(tmp_path):
    run = tmp_path / "runs" / "my_run"
    (run / "checkpoints").mkdir(parents=True)
    weights = run / "checkpoints" / "best.safetensors"
    weights.write_bytes(b"weights")
    sidecar = {"data": {"path": str(tmp_path / "data" / "melt96.h5"), "hash": "sha256-sampled:abc"}}
    prov = provenance(run, weights, sidecar)
    assert prov["data_file"] == "melt96.h5" and prov["data_hash"] == "sha256-sampled:abc"
    assert prov["checkpoint"] == "best"
    assert prov["checkpoint_sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert _no_absolute_paths(prov), prov


@pytest.mark.parametrize(
    "name", ["smoke_default", "melt_temperature", "melt_microstructure", "trajectory_default"]
)
def test_shipped_models_carry_no_absolute_path(name):
    model = onnx.load(str(resource_path("models", f"{name}.onnx")), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    assert "fieldcast.provenance" in meta
    assert _no_absolute_paths(meta), {k: v for k, v in meta.items() if not _no_absolute_paths(v)}
