"""System specs travel with data and models: serialisation, validation, and models of unknown systems."""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
import pytest
from onnx_models import make_conv_model

from fieldcast.engine import evaluate as ev
from fieldcast.engine.data import DatasetWriter, open_dataset
from fieldcast.engine.model_format import PREFIX, ModelInfo, build_metadata, parse_metadata
from fieldcast.engine.rollout import Rollout
from fieldcast.engine.runtime import ModelError, ModelSession
from fieldcast.engine.systems import base
from fieldcast.engine.systems.base import (
    FieldSpec,
    SystemSpec,
    get_spec,
    resolve_spec,
    spec_from_dict,
    spec_to_dict,
)

ELSEWHERE = SystemSpec(
    name="generic:elsewhere",
    fields=(
        FieldSpec("height", role="state", units="m", description="water column"),
        FieldSpec("flow", role="state", order=1, units="m/s", colormap="coolwarm"),
        FieldSpec("source", role="control", units="1"),
        FieldSpec("depth", role="conditioning", units="m"),
    ),
    history=1,
    dt=0.25,
    time_units="s",
    description="shallow water from another lab",
    metrics=("total_height",),
    extra={"grid": {"cell": 0.5}, "tags": ["a", "b"]},
)


@pytest.mark.parametrize("name", ["smoke", "melt", "trajectory"])
def test_builtin_specs_round_trip_through_json(name):
    spec = get_spec(name)
    data = json.loads(json.dumps(spec_to_dict(spec), allow_nan=False))
    back = spec_from_dict(data)
    assert back == spec and back.extra == spec.extra
    assert spec_to_dict(back) == data


def test_generic_spec_round_trips_exactly():
    data = spec_to_dict(ELSEWHERE)
    back = spec_from_dict(data)
    assert back == ELSEWHERE and back.extra == ELSEWHERE.extra
    assert back.channel_names() == ["height", "flow_x", "flow_y", "source", "depth"]
    assert spec_to_dict(back) == data


def test_non_json_extra_is_left_out():
    spec = SystemSpec("s", (FieldSpec("u"),), extra={"solver": object(), "cells": 4})
    assert spec_to_dict(spec)["extra"] == {"cells": 4}


def test_missing_optional_keys_take_defaults():
    spec = spec_from_dict({"name": "s", "fields": [{"name": "u"}]})
    assert spec == SystemSpec("s", (FieldSpec("u"),))


def _bad(mutate):
    data = spec_to_dict(ELSEWHERE)
    mutate(data)
    return data


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda d: d.update(colour="red"), "'colour'"),
        (lambda d: d.pop("fields"), "'fields'"),
        (lambda d: d.pop("name"), "'name'"),
        (lambda d: d.update(name=""), "'name'"),
        (lambda d: d.update(name="n" * 129), "'name'"),
        (lambda d: d.update(name=3), "'name'"),
        (lambda d: d.update(fields={"height": {}}), "'fields'"),
        (lambda d: d.update(fields=[]), "'fields'"),
        (lambda d: d.update(fields=[{"name": f"f{i}"} for i in range(257)]), "'fields'"),
        (lambda d: d["fields"][1].update(name="f" * 129), "'fields[1].name'"),
        (lambda d: d["fields"][1].pop("name"), "'fields[1].name'"),
        (lambda d: d["fields"][2].update(name="height"), "'fields[2].name'"),
        (lambda d: d["fields"][2].update(role="driver"), "'fields[2].role'"),
        (lambda d: d["fields"][1].update(order=2), "'fields[1].order'"),
        (lambda d: d["fields"][1].update(order=True), "'fields[1].order'"),
        (lambda d: d["fields"][0].update(units=["m"]), "'fields[0].units'"),
        (lambda d: d["fields"][0].update(shape=[4]), "'fields[0].shape'"),
        (lambda d: d["fields"].__setitem__(3, "depth"), "'fields[3]'"),
        (lambda d: d.update(dt=0), "'dt'"),
        (lambda d: d.update(dt=math.nan), "'dt'"),
        (lambda d: d.update(dt="0.1"), "'dt'"),
        (lambda d: d.update(history=0), "'history'"),
        (lambda d: d.update(history=2.5), "'history'"),
        (lambda d: d.update(n_dims=4), "'n_dims'"),
        (lambda d: d.update(kind="weather"), "'kind'"),
        (lambda d: d.update(description="x" * 5000), "'description'"),
        (lambda d: d.update(metrics="total_height"), "'metrics'"),
        (lambda d: d.update(metrics=[1]), "'metrics[0]'"),
        (lambda d: d.update(extra=[1, 2]), "'extra'"),
        (lambda d: d.update(extra={"solver": object()}), "'extra'"),
        (lambda d: d.update(extra={"blob": "x" * (70 << 10)}), "'extra'"),
    ],
)
def test_bad_specs_are_rejected_naming_the_key(mutate, key):
    with pytest.raises(ValueError, match=key.replace("[", r"\[").replace("]", r"\]")):
        spec_from_dict(_bad(mutate))


def test_spec_must_be_an_object():
    with pytest.raises(ValueError, match="expected an object"):
        spec_from_dict(["smoke"])


def test_resolve_spec_prefers_the_carried_spec():
    assert resolve_spec("generic:elsewhere", spec_to_dict(ELSEWHERE)) == ELSEWHERE
    assert resolve_spec("generic:elsewhere", ELSEWHERE) is ELSEWHERE
    assert resolve_spec("smoke", None) is get_spec("smoke")
    with pytest.raises(ValueError, match="generic:elsewhere"):
        resolve_spec("smoke", spec_to_dict(ELSEWHERE))
    with pytest.raises(KeyError, match="generic:elsewhere"):
        resolve_spec("generic:elsewhere", None)


# Models ----------------------------------------------------------------------------------------------------
STATE = ("height", "flow_x", "flow_y")


def elsewhere_info(spec: dict | None = None) -> ModelInfo:
    return ModelInfo(
        system=ELSEWHERE.name,
        input_channels=(*STATE, "source"),
        output_channels=STATE,
        history=1,
        layout={
            "state": list(STATE),
            "history_state": [],
            "controls": ["source"],
            "vectors": [["flow_x", "flow_y"]],
            "solid": None,
            "nonnegative": ["height"],
        },
        input_units=("m", "m/s", "m/s", "1"),
        output_units=("m", "m/s", "m/s"),
        dt=ELSEWHERE.dt,
        time_units="s",
        spec=spec_to_dict(ELSEWHERE) if spec is None else spec,
    )


def test_metadata_carries_the_spec():
    props = build_metadata(elsewhere_info())
    assert json.loads(props[PREFIX + "spec"]) == spec_to_dict(ELSEWHERE)
    info = parse_metadata(props)
    assert info.spec == spec_to_dict(ELSEWHERE)
    assert info.system_spec() == ELSEWHERE


def test_models_without_a_spec_still_load():
    props = build_metadata(elsewhere_info())
    del props[PREFIX + "spec"]
    info = parse_metadata(props)
    assert info.spec is None
    with pytest.raises(KeyError):
        info.system_spec()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps(["height"]), "expected an object"),
        (json.dumps(_bad(lambda d: d["fields"][0].update(role="driver"))), "fields[0].role"),
        (json.dumps(_bad(lambda d: d.update(name="smoke"))), "'smoke'"),
    ],
)
def test_bad_spec_metadata_is_a_metadata_error(value, expected):
    props = build_metadata(elsewhere_info())
    props[PREFIX + "spec"] = value
    with pytest.raises(ValueError, match="fieldcast.spec") as err:
        parse_metadata(props)
    assert expected in str(err.value)


def test_a_spec_of_another_system_is_not_written():
    with pytest.raises(ValueError, match="not 'smoke'"):
        build_metadata(ModelInfo(**{**vars(elsewhere_info()), "system": "smoke"}))


@pytest.fixture
def no_registry(monkeypatch):
    """No built-in system is known: every spec must come from the data or the model."""
    monkeypatch.setattr(base, "_REGISTRY", {})
    monkeypatch.setattr(base, "_KNOWN_MODULES", {})
    with pytest.raises(KeyError):
        get_spec("smoke")


def _elsewhere_model(path):
    # next = state with the source added to the height: a 1×1 convolution, 4 -> 3 channels
    weight = np.zeros((3, 4, 1, 1), np.float32)
    for i in range(3):
        weight[i, i] = 1.0
    weight[0, 3] = 1.0
    return make_conv_model(path, elsewhere_info(), weight, np.zeros(3, np.float32))


def _elsewhere_data(path, n_traj=10, n_frames=8, grid=(8, 8)):
    rng = np.random.default_rng(1)
    with DatasetWriter(path, ELSEWHERE, n_frames=n_frames, grid=grid) as w:
        for _ in range(n_traj):
            height = np.empty((n_frames, *grid), np.float32)
            height[0] = rng.random(grid)
            source = np.full((n_frames, *grid), 0.1, np.float32)
            for t in range(1, n_frames):
                height[t] = height[t - 1] + source[t - 1]
            flow = np.zeros((n_frames, *grid, 2), np.float32)
            depth = np.ones((n_frames, *grid), np.float32)
            w.append({"height": height, "flow": flow, "source": source, "depth": depth})
    return path


def test_model_of_an_unknown_system_evaluates_without_the_registry(tmp_path, no_registry):
    model = _elsewhere_model(tmp_path / "model.onnx")
    data = _elsewhere_data(tmp_path / "data.h5")
    session = ModelSession(model)
    assert session.info.system_spec() == ELSEWHERE
    dataset = open_dataset(data)
    assert dataset.spec == ELSEWHERE
    gen = ev.iter_evaluate(ev.session_step(session), session.info, dataset, split="test", horizons=(1, 5))
    with pytest.raises(StopIteration) as stop:
        while True:
            next(gen)
    result = stop.value.value
    assert result["finite"] and result["steps"] == 5
    assert result["horizons"][5]["nmse"] < 1e-8


def test_rollout_groups_fields_by_the_carried_spec(tmp_path, no_registry):
    rollout = Rollout(ModelSession(_elsewhere_model(tmp_path / "model.onnx")))
    blank = rollout.blank_state(4, 4)
    assert set(blank) == {"height", "flow"} and blank["flow"].shape == (4, 4, 2)


def test_a_model_with_a_bad_spec_does_not_open(tmp_path):
    info = elsewhere_info()
    path = _elsewhere_model(tmp_path / "model.onnx")
    model = onnx.load(str(path))
    for entry in model.metadata_props:
        if entry.key == PREFIX + "spec":
            entry.value = json.dumps({**info.spec, "fields": "height"})
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match="fieldcast.spec"):
        ModelSession(path)
