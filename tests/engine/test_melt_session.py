"""Interactive melting (MeltPlay): the steerable beam, the solver and model sources, the comparison."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_models import (
    make_model,
    write_melt_microstructure_model,
    write_melt_temperature_model,
)

from fieldcast.engine.melt_session import (
    Beam,
    MeltPlay,
    MicrostructureModel,
    epitaxial_choice,
    melt_model_kind,
    open_melt_model,
)
from fieldcast.engine.runtime import ModelError
from fieldcast.engine.systems.melt import Material

DX = 5e-6
LIQUIDUS = Material().liquidus


def test_beam_runs_a_drawn_path_at_its_speed_then_switches_off():
    beam = Beam(0.0, length=1e-3, power=150.0, speed=0.5)
    beam.start_path(100e-6)
    beam.add_point(200e-6)
    beam.add_point(150e-6)
    assert beam.on and beam.path() == pytest.approx([100e-6, 100e-6, 200e-6, 150e-6])
    x0, x1, power = beam.advance(100e-6)  # 50 µm at 0.5 m/s
    assert (x0, x1, power) == pytest.approx((100e-6, 150e-6, 150.0))
    beam.advance(80e-6)  # 40 µm: to 190 µm
    _, x, _ = beam.advance(60e-6)  # 30 µm: reaches 200 µm, turns and runs 20 µm back
    assert x == pytest.approx(180e-6)
    beam.advance(1e-3)
    assert beam.x == pytest.approx(150e-6) and not beam.on
    assert beam.advance(1e-5)[2] == 0.0


def test_beam_repeats_a_path_back_and_forth_and_clamps_to_the_plate():
    beam = Beam(0.0, length=300e-6, speed=1.0)
    beam.set_repeat(True)
    beam.start_path(50e-6)
    beam.add_point(500e-6)  # beyond the plate: clamped to its end
    assert beam.drawn() == pytest.approx([50e-6, 300e-6])
    beam.advance(250e-6)
    assert beam.x == pytest.approx(300e-6) and beam.on  # turned round, still on
    beam.advance(100e-6)
    assert beam.x == pytest.approx(200e-6)


def test_dragged_beam_follows_the_mouse_and_waits_there_until_released():
    beam = Beam(0.0, length=1e-3, speed=1.0)
    beam.follow(20e-6)
    beam.advance(100e-6)
    assert beam.x == pytest.approx(20e-6) and beam.on
    beam.follow(0.0)
    assert beam.advance(10e-6)[1] == pytest.approx(10e-6)
    beam.release()
    assert not beam.on and beam.advance(1e-5)[2] == 0.0


@pytest.fixture(scope="module")
def solver_run():
    """48 frames of the solver under a path across a 32 × 16 plate."""
    play = MeltPlay(32, 16)
    play.beam.start_path(6 * DX)
    play.beam.add_point(26 * DX)
    frames = [play.advance() for _ in range(48)]
    return play, frames


def test_solver_melts_under_the_beam_and_grains_regrow_behind_it(solver_run):
    play, frames = solver_run
    start = MeltPlay(32, 16).frame
    peak = max(f.stats["peak_temperature"] for f in frames)
    assert peak > LIQUIDUS
    assert any(f.stats["pool_depth_um"] > 5 for f in frames)
    hot = max(frames, key=lambda f: f.stats["liquid_cells"])
    liquid = hot.temperature >= LIQUIDUS
    assert liquid[:, -1].any() and not liquid[:, 0].any()  # at the surface, not at the bottom
    assert (hot.ipf[:, liquid] == 0).all()  # molten cells carry no orientation
    last = frames[-1]
    assert last.power == 0.0 and last.stats["peak_temperature"] < LIQUIDUS
    changed = np.abs(last.ipf - start.ipf).max(axis=0) > 0
    assert changed[:, -3:].any() and not changed[:, :4].any()  # new grains in the track, bulk untouched
    assert all(f.finite for f in frames)


def test_same_scene_is_repeatable_after_reset(solver_run):
    play, frames = solver_run
    play.reset()
    assert not play.beam.on and play.frame.index == 0
    play.beam.start_path(6 * DX)
    play.beam.add_point(26 * DX)
    again = [play.advance() for _ in range(12)]
    np.testing.assert_array_equal(again[-1].temperature, frames[11].temperature)
    np.testing.assert_array_equal(again[-1].ipf, frames[11].ipf)


def test_model_kinds_and_refusals(tmp_path):
    temp = write_melt_temperature_model(tmp_path / "t.onnx")
    micro = write_melt_microstructure_model(tmp_path / "m.onnx")
    smoke = make_model(tmp_path / "smoke.onnx")
    assert melt_model_kind(temp) == "temperature" and melt_model_kind(micro) == "microstructure"
    assert melt_model_kind(smoke) is None
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    assert melt_model_kind(junk) is None
    assert open_melt_model(temp)[0] == "temperature"
    with pytest.raises(ModelError, match="smoke.onnx.*'smoke' model"):
        open_melt_model(smoke)


def compared_run(model_file, frames: int) -> list:
    """``frames`` frames on a 32 × 16 plate with the model in ``model_file`` and the solver alongside,
    the beam run from cell 6 to 26."""
    play = MeltPlay(32, 16)
    kind, session = open_melt_model(model_file)
    if kind == "temperature":
        play.set_temperature_session(session)
    else:
        play.set_microstructure_session(session)
    play.set_compare(True)
    play.beam.start_path(6 * DX)
    play.beam.add_point(26 * DX)
    return [play.advance() for _ in range(frames)]


def test_temperature_model_and_automaton_follow_the_beam_with_the_solver_alongside(tmp_path):
    frames = compared_run(write_melt_temperature_model(tmp_path / "t.onnx"), 20)
    last = frames[-1]
    # The toy model heats the top row where the laser flux is (0.9 T + 30 K + 2e-8 flux).
    top = last.temperature[:, -1]
    assert top.max() > 500 and last.temperature[:, 0].min() == pytest.approx(300.0, abs=1e-3)
    hottest = [int(np.argmax(f.temperature[:, -1])) for f in frames[2:10]]  # the beam runs 6 -> 26
    assert hottest == sorted(hottest) and hottest[-1] >= hottest[0] + 8
    # the toy model relaxes over ~10 frames, so its hot spot trails the beam by a few cells
    assert all(0 <= f.beam_x - x <= 8 for f, x in zip(frames[2:10], hottest, strict=True))
    assert last.reference_temperature is not None and last.error_temperature > 0
    assert last.ms_temperature > 0 and all(f.finite for f in frames)


def test_microstructure_model_runs_a_three_transition_window_from_zero_state(tmp_path):
    _, session = open_melt_model(write_melt_microstructure_model(tmp_path / "m.onnx"))
    calls = []
    run = session.run

    def spy(feeds):
        calls.append({k: np.array(v) for k, v in feeds.items()})
        return run(feeds)

    session.run = spy
    model = MicrostructureModel(session)
    ipf = np.random.default_rng(0).random((9, 32, 16)).astype(np.float32)
    cold = np.full((32, 16), 300.0, np.float32)
    model.reset(ipf, cold)
    model.step(cold + 100.0)
    assert not calls  # all solid now and next: nothing can change, the network is not asked
    hot = cold + 100.0
    hot[0, -1] = LIQUIDUS + 10.0  # one molten cell
    out = model.step(hot)
    assert (out[:, 0, -1] == 0).all()
    np.testing.assert_allclose(out[:, 1:], ipf[:, 1:], atol=1e-6)  # the toy model keeps ipf(t)
    assert len(calls) == 3
    assert not calls[0]["recurrent_in_0"].any()  # each window starts from a zero state
    assert calls[1]["recurrent_in_0"].min() == 1.0  # and carries it through the window
    np.testing.assert_array_equal(calls[0]["fields"][0, 10], cold)
    np.testing.assert_array_equal(calls[2]["fields"][0, 10], hot)  # T(t+1) feeds the last transition
    calls.clear()
    model.step(hot + 50.0)
    # The window moved on by one frame: its last transition starts from the frame just predicted.
    np.testing.assert_array_equal(calls[1]["fields"][0, 10], hot)
    np.testing.assert_array_equal(calls[2]["fields"][0, 9], hot)
    np.testing.assert_array_equal(calls[2]["fields"][0, 10], hot + 50.0)


def test_epitaxial_choice_takes_the_nearest_solid_neighbour_and_leaves_isolated_cells():
    ipf_now = np.zeros((9, 5, 5), np.float32)
    ipf_now[:, 0, :] = 0.2  # grain A in column 0
    ipf_now[:, 2, :] = 0.9  # grain B in column 2; columns 1, 3, 4 liquid
    pred = np.full((9, 5, 5), 0.7, np.float32)  # nearer B than A
    solidifying = np.zeros((5, 5), bool)
    solidifying[1, 2] = solidifying[4, 2] = True
    epitaxial_choice(pred, ipf_now, solidifying)
    np.testing.assert_allclose(pred[:, 1, 2], 0.9)  # grows from B
    np.testing.assert_allclose(pred[:, 4, 2], 0.7)  # no solid neighbour: a new grain, as predicted
    assert (pred[:, 3, 3] == 0.7).all()  # not solidifying: untouched


def test_epitaxial_growth_runs_across_a_pool_that_solidifies_in_one_frame():
    ipf_now = np.zeros((9, 6, 3), np.float32)
    ipf_now[:, 0, :] = 0.2  # one grain at the left; the rest was liquid
    pred = np.full((9, 6, 3), 0.7, np.float32)
    solidifying = np.zeros((6, 3), bool)
    solidifying[1:5, 1] = True  # a chain of cells, only the first touching the grain
    epitaxial_choice(pred, ipf_now, solidifying)
    np.testing.assert_allclose(pred[:, 1:5, 1], 0.2)  # the grain grew along the whole chain
    np.testing.assert_allclose(pred[:, 5, 1], 0.7)


def test_microstructure_model_keeps_solid_cells_and_melts_liquid_ones(tmp_path):
    _, session = open_melt_model(write_melt_microstructure_model(tmp_path / "m.onnx"))
    model = MicrostructureModel(session)
    ipf = np.full((9, 32, 16), 0.5, np.float32)
    ipf[:, 10:14, 12:] = 0.0  # a pool, liquid at t
    cold = np.full((32, 16), 300.0, np.float32)
    model.reset(ipf, cold)
    t_next = cold.copy()
    t_next[20:24, 14:] = LIQUIDUS + 100.0  # melting elsewhere at t+1
    out = model.step(t_next)
    assert (out[:, 20:24, 14:] == 0).all()
    np.testing.assert_array_equal(out[:, :10], ipf[:, :10])
    # The pool solidified at t+1 (cold): its edge cells grow from the surrounding grain.
    np.testing.assert_allclose(out[:, 10, 12], 0.5)


def test_microstructure_model_with_the_solver_temperature_is_compared_to_the_automaton(tmp_path):
    frames = compared_run(write_melt_microstructure_model(tmp_path / "m.onnx"), 30)
    last = frames[-1]
    np.testing.assert_array_equal(last.temperature, last.reference_temperature)
    assert last.error_temperature == 0.0
    assert last.error_ipf > 0  # persistence misses the regrown track the automaton makes
    assert last.error == last.error_ipf
