"""thermal-imaging datasets: the CLI writes both sources, the files carry their spec, Play's hooks agree."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from fieldcast.app.cli import main as cli_main
from fieldcast.engine.data import open_dataset
from fieldcast.engine.systems.base import get_spec, spec_from_dict, spec_to_dict
from fieldcast.engine.systems.thermal_imaging import (
    check_options,
    reference,
    sample_condition,
    simulate_trajectory,
    spec_for,
)

_TARGET = {"radio": "power_db", "ir": "ir"}
_CONDITION = {
    "radio": ["buildings", "transmitter"],
    "ir": ["laser", "laser_recent", "scan_path", "material"],
}


def _generate(path, source: str, seed: int = 3, workers: int = 1) -> int:
    return cli_main(
        [
            "generate",
            "thermal-imaging",
            "--source",
            source,
            "--trajectories",
            "2",
            "--frames",
            "2",
            "--size",
            "16",
            "--seed",
            str(seed),
            "--workers",
            str(workers),
            "--out",
            str(path),
            # A short scan before the first frame keeps the infrared runs quick.
            *(["--set", "warmup=[0.0, 0.0005]"] if source == "ir" else []),
        ]
    )


def _fields(path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {name: f["t0_fields"][name][()] for name in f["t0_fields"]}


@pytest.mark.parametrize("source", ["radio", "ir"])
def test_the_cli_writes_a_dataset_that_opens_with_the_sources_spec(tmp_path, source):
    out = tmp_path / f"{source}.h5"
    assert _generate(out, source) == 0
    with open_dataset(out) as ds:
        spec = ds.spec
        assert spec.name == "thermal-imaging" and spec.kind == "generative"
        assert spec.extra["source"] == source
        assert spec.channel_names("conditioning") == _CONDITION[source]
        assert spec.channel_names("state") == [_TARGET[source]]
        assert ds.n_trajectories == 2 and ds.n_frames == 2 and ds.grid == (16, 16)
        window = ds.read_window(1, 0, 2)
        assert window.shape == (2, len(_CONDITION[source]) + 1, 16, 16)
        assert np.isfinite(window).all()
    # The same seed writes the same arrays.
    again = tmp_path / f"{source}_again.h5"
    assert _generate(again, source) == 0
    a, b = _fields(out), _fields(again)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    other = tmp_path / f"{source}_other.h5"
    assert _generate(other, source, seed=4) == 0
    assert not np.array_equal(a[_TARGET[source]], _fields(other)[_TARGET[source]])


def test_radio_files_do_not_depend_on_the_number_of_workers(tmp_path):
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    assert _generate(one, "radio", workers=1) == 0
    assert _generate(two, "radio", workers=2) == 0
    a, b = _fields(one), _fields(two)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_bad_options_are_refused_before_any_work(tmp_path, capsys):
    assert (
        cli_main(["generate", "thermal-imaging", "--source", "sonar", "--out", str(tmp_path / "x.h5")]) == 2
    )
    assert "source must be one of ir, radio" in capsys.readouterr().err
    args = [
        "generate",
        "thermal-imaging",
        "--source",
        "ir",
        "--set",
        "colour=red",
        "--out",
        str(tmp_path / "x.h5"),
    ]
    assert cli_main(args) == 2
    assert "unknown ir option(s) colour" in capsys.readouterr().err
    with pytest.raises(ValueError, match="eps_liquid"):
        check_options(source="ir", eps_liquid=1.5)
    with pytest.raises(ValueError, match="density"):
        check_options(source="radio", density=[0.5, 0.2])
    assert not (tmp_path / "x.h5").exists()


def test_specs_per_source_travel_and_the_registered_spec_is_radio():
    for source in ("radio", "ir"):
        spec = spec_for(source)
        assert spec_from_dict(spec_to_dict(spec)) == spec
        assert len(spec.fields_with_role("state")) == 1
    assert get_spec("thermal-imaging").extra["source"] == "radio"
    assert spec_for("ir", frame_dt=1e-3).dt == 1e-3
    assert spec_for("radio", frequency=28e9).extra["wall_loss"] == pytest.approx(5 + 4 * 28)


def test_radio_reference_reproduces_the_generators_maps():
    fields = simulate_trajectory(np.random.SeedSequence(9), 3, 24, source="radio")
    for k in range(3):
        condition = {"buildings": fields["buildings"][k], "transmitter": fields["transmitter"][k]}
        np.testing.assert_array_equal(reference("radio", condition), fields["power_db"][k])
    condition, target = sample_condition("radio", np.random.default_rng(2), 24)
    assert sorted(condition) == ["buildings", "transmitter"]
    np.testing.assert_array_equal(reference("radio", condition), target)
    with pytest.raises(ValueError, match="reference_ir_from_path"):
        reference("ir", condition)
    with pytest.raises(ValueError, match="no positive"):
        reference("radio", {"buildings": condition["buildings"], "transmitter": np.zeros((24, 24))})


def test_sample_condition_draws_an_ir_frame_and_its_maps():
    condition, target = sample_condition("ir", np.random.default_rng(0), 16, warmup=[2e-4, 4e-4])
    assert sorted(condition) == sorted(_CONDITION["ir"])
    assert target.shape == (16, 16) and all(v.shape == (16, 16) for v in condition.values())
    assert 0 <= target.min() and target.max() <= 1
