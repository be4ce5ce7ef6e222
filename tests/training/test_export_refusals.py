"""An export that fails its parity check writes nothing, not even over an earlier export."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import TINY, deep_update
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from fieldcast.app.cli import main as cli_main
from fieldcast.engine.data import open_dataset
from fieldcast.training.config import load_recipe
from fieldcast.training.export import ExportError, export_run
from fieldcast.training.trainer import Trainer


def _drain(job):
    try:
        while True:
            next(job)
    except StopIteration as stop:
        return stop.value


@pytest.fixture(scope="module")
def blown_run(tmp_path_factory, smoke_file):
    """A run trained for a few steps whose weights were then scaled by 1e30 (outputs overflow)."""
    folder = tmp_path_factory.mktemp("export-refusal")
    recipe = folder / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(deep_update(TINY, {"data": {"path": str(smoke_file)}})))
    run = folder / "run"
    events = list(Trainer(load_recipe(recipe), open_dataset(smoke_file), run).run())
    assert events[-1].status == "completed"
    for weights in (run / "checkpoints").glob("*.safetensors"):
        with safe_open(str(weights), "np") as fh:
            meta = fh.metadata()
        tensors = {k: (v * np.float32(1e30)).astype(v.dtype) for k, v in load_file(str(weights)).items()}
        save_file(tensors, str(weights), metadata=meta)
    return run


def test_failed_parity_writes_no_model(blown_run):
    earlier = blown_run / "model.onnx"
    earlier.write_bytes(b"an earlier export")
    with pytest.raises(ExportError) as info:
        _drain(export_run(blown_run))
    text = str(info.value)
    assert text.startswith(f"{blown_run}: ") and "parity" in text and "nothing was written" in text
    assert earlier.read_bytes() == b"an earlier export"
    assert not list(blown_run.glob(".*checking*")) and not list(blown_run.glob("*.tmp"))


def test_the_export_command_says_so_in_one_line(blown_run, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert cli_main(["export", str(blown_run), "--out", str(out)]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip() and "ETA" not in ln]
    assert len(err) == 1 and "parity" in err[0] and str(blown_run) in err[0]
    assert not out.exists()
