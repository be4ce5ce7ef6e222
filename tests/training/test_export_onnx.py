import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
import yaml
from conftest import TINY, deep_update

from fieldcast.app.cli import main as cli_main
from fieldcast.engine.jobs import Cancelled, CancelToken
from fieldcast.engine.runtime import ModelSession, find_variants
from fieldcast.training.config import load_recipe
from fieldcast.training.export import FP32_TOLERANCE, export_run
from fieldcast.training.export_checks import parity
from fieldcast.training.export_fp16 import to_float16
from fieldcast.training.export_onnx import to_onnx
from fieldcast.training.models import build_model, model_names
from fieldcast.training.rollout import SurrogateStep
from fieldcast.training.trainer import Trainer

UNET_CONFIGS = {
    "resunet-bilinear-instance": {"depth": 2, "base_width": 4, "norm": "instance", "residual": True},
    "unet-transpose-batch": {
        "depth": 2,
        "base_width": 4,
        "norm": "batch",
        "residual": False,
        "upsampling": "transpose",
        "activation": "relu",
    },
    "resunet-group-clamp": {
        "depth": 1,
        "base_width": 8,
        "norm": "group",
        "groups": 4,
        "activation": "silu",
        "padding_mode": "zeros",
        "output_clamp": 2.0,
    },
    "unet-nonorm-reflect": {"depth": 2, "base_width": 4, "norm": "none", "padding_mode": "reflect"},
}
SMOKE_FLOW_CONFIGS = {
    "semi-lagrangian": {"frames": 2, "coarsen": 2, "depth": 1, "base_width": 4},
    "shipped-structure": {
        "frames": 2,
        "coarsen": 2,
        "depth": 1,
        "base_width": 4,
        "project": True,
        "project_radius": 3,
        "advect_velocity": True,
        "hold_emitter_velocity": True,
        "density_advection": "maccormack",
    },
}
FAMILY_CONFIGS = {"unet": UNET_CONFIGS, "smoke_flow": SMOKE_FLOW_CONFIGS}
# Families exported through their own signature (streaming state, a denoising step), with their parity tests
# beside their model tests.
STREAMING_FAMILIES = {
    "lstm": "tests/training/test_lstm_model.py::test_streaming_onnx_matches_torch",
    "convlstm": "tests/training/test_convlstm_model.py::test_onnx_export_carries_the_recurrent_state",
    "diffusion_unet": (
        "tests/training/test_generative_task.py::test_engine_sampler_matches_the_trainers_sampler"
    ),
}


def _step(name, args, seed=0, residual=False):
    torch.manual_seed(seed)
    model = build_model(name, {"in_channels": 6, "out_channels": 3, **args})
    for m in model.modules():  # non-trivial running statistics, so batch norm is really exercised
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    rng = np.random.default_rng(seed)
    stats = (rng.random(6), 0.5 + rng.random(6), rng.random(3), 0.5 + rng.random(3))
    return SurrogateStep(model, *stats, residual=residual).eval()


def _ort(model_proto):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model_proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def test_every_registered_family_has_parity_configs():
    assert set(model_names()) <= set(FAMILY_CONFIGS) | set(STREAMING_FAMILIES)


@pytest.mark.parametrize("family,config", [(f, c) for f, cs in FAMILY_CONFIGS.items() for c in cs])
def test_fp32_parity_with_dynamic_batch_and_grid(family, config):
    step = _step(family, FAMILY_CONFIGS[family][config])
    session = _ort(to_onnx(step, (16, 16), dynamic_grid=True))
    for shape in ((2, 6, 16, 16), (1, 6, 32, 24)):
        x = np.random.default_rng(1).standard_normal(shape).astype(np.float32) * 2.0
        with torch.no_grad():
            ref = step(torch.from_numpy(x)).numpy()
        got = session.run(None, {"fields": x})[0]
        assert got.shape == ref.shape
        assert parity(ref, got, np.ones(3))["max_rel"] <= FP32_TOLERANCE


def test_fp16_conversion_keeps_float32_edges():
    step = _step("unet", UNET_CONFIGS["resunet-bilinear-instance"])
    half = to_float16(to_onnx(step, (16, 16), dynamic_grid=True))
    session = _ort(half)
    assert (
        session.get_inputs()[0].type == "tensor(float)" and session.get_outputs()[0].type == "tensor(float)"
    )
    x = np.random.default_rng(2).standard_normal((1, 6, 16, 16)).astype(np.float32)
    with torch.no_grad():
        ref = step(torch.from_numpy(x)).numpy()
    assert parity(ref, session.run(None, {"fields": x})[0], np.ones(3))["max_rel"] < 1e-2


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, smoke_file):
    folder = tmp_path_factory.mktemp("export")
    recipe_path = folder / "tiny.yaml"
    recipe_path.write_text(yaml.safe_dump(deep_update(TINY, {"data": {"path": str(smoke_file)}})))
    from fieldcast.engine.data import open_dataset

    run = folder / "run"
    events = list(Trainer(load_recipe(recipe_path), open_dataset(smoke_file), run).run())
    assert events[-1].status == "completed"
    return run


def _drain(job):
    try:
        while True:
            next(job)
    except StopIteration as stop:
        return stop.value


def test_export_run_writes_every_variant_with_a_report(trained_run):
    report = _drain(export_run(trained_run, fp16=True, int8=True))
    assert set(report["variants"]) == {"fp32", "fp16", "int8"}
    assert report["variants"]["fp32"]["parity"]["ok"] and report["inputs"].startswith("valid split")
    for variant, rec in report["variants"].items():
        assert rec["parity"]["max_rel"] < (FP32_TOLERANCE if variant == "fp32" else 0.5)
        assert rec["rollout"]["finite"] and rec["rollout"]["horizons"]
    on_disk = json.loads((trained_run / "export_report.json").read_text())
    assert on_disk["variants"].keys() == report["variants"].keys()
    variants = find_variants(trained_run / "model.onnx")
    assert set(variants) == {"fp32", "fp16", "int8"}
    for variant, path in variants.items():
        info = ModelSession(path, threads=1).info
        assert info.variant == variant and info.system == "smoke" and info.history == 2
        assert info.input_channels == (
            "density",
            "velocity_x",
            "velocity_y",
            "density@t-1",
            "emitter",
            "collider",
        )
        assert info.grid == (16, 16) and info.grid_multiple == 2 and info.dt == 1.0
        assert info.provenance["recipe_hash"] and info.provenance["data_hash"].startswith("sha256")
        assert "loss" in info.metrics and info.layout["solid"] == "collider"
    assert not list(trained_run.glob(".*tmp")) and not list(trained_run.glob(".int8-*"))


def test_export_honours_cancel(trained_run, tmp_path):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        _drain(export_run(trained_run, out=tmp_path / "x.onnx", token=token))
    assert not (tmp_path / "x.onnx").exists()


def test_export_bench_and_eval_commands(trained_run, smoke_file, tmp_path, capsys):
    out = tmp_path / "m" / "smoke.onnx"
    assert cli_main(["export", str(trained_run), "--fp16", "--checkpoint", "last", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "max rel" in table and "fp16" in table and (out.parent / "smoke.fp16.onnx").is_file()
    assert cli_main(["bench", str(out), "--size", "16", "--steps", "12", "--warmup", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("RESULT steps_per_s=") and lines[-1].endswith("finite=1")
    assert "overhead=" in lines[-1] and "gflops=" in lines[-1]
    assert (
        cli_main(["eval", str(out), str(smoke_file), "--horizons", "2,4", "--split", "valid", "--json"]) == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert sorted(result["horizons"]) == ["2", "4"] and result["finite"]


def test_residual_step_exports_with_parity_and_starts_from_persistence():
    step = _step("unet", UNET_CONFIGS["unet-nonorm-reflect"], residual=True)
    x = np.random.default_rng(3).standard_normal((2, 6, 16, 16)).astype(np.float32)
    session = _ort(to_onnx(step, (16, 16), dynamic_grid=True))
    with torch.no_grad():
        ref = step(torch.from_numpy(x)).numpy()
        for p in step.model.parameters():
            p.zero_()
        persistence = step(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session.run(None, {"fields": x})[0], ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(persistence, x[:, :3])  # a model that outputs 0 keeps the state
