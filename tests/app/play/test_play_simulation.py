"""The Play panel's simulation core without drawing: controls, backends, comparison, stepper thread."""

from __future__ import annotations

import numpy as np
import pytest

from fieldcast.app.play.controls import ControlState
from fieldcast.app.play.recorder import Recorder, mp4_available, render_rgb
from fieldcast.app.play.scenes import scene_names
from fieldcast.app.play.simulation import ModelBackend, Simulation
from fieldcast.app.play.stepper import Stepper


def test_painting_marks_the_cells_under_the_brush():
    c = ControlState(32, 32)
    c.paint("emitter", 10.5, 20.5, 2)
    emitter, collider = c.masks()
    assert emitter[10, 20] == 1.0 and emitter[11, 20] == 1.0 and emitter[12, 20] == 0.5  # soft edge
    assert emitter[13, 20] == 0.0
    c.paint("collider", 10.5, 20.5, 1)
    emitter, collider = c.masks()
    assert collider[10, 20] == 1.0 and emitter[10, 20] == 0.0  # a collider replaces the emitter
    c.paint("erase", 10.5, 20.5, 3)
    assert not c.masks()[1].any() and c.masks()[0].max() < 0.5
    with pytest.raises(ValueError):
        c.paint("glue", 1, 1, 1)


def test_force_is_taken_then_decays_to_nothing():
    c = ControlState(32, 32)
    c.force_decay = 0.5
    c.push(8.0, 16.0, 16.0, 16.0, 3.0, 0.05)
    first = c.take().force
    assert first[12, 16, 0] == pytest.approx(0.4, rel=0.1) and abs(first[..., 1]).max() < 1e-12
    assert c.take().force.max() == pytest.approx(first.max() * 0.5)
    for _ in range(40):
        c.take()
    assert c.take().force is None


@pytest.mark.parametrize("scene", scene_names())
def test_every_scene_steps_on_the_solver(scene):
    sim = Simulation(48, scene)
    for _ in range(5):
        frame = sim.advance()
    assert frame.index == 5 and frame.finite and frame.density.shape == (48, 48)
    assert frame.velocity.shape == (48, 48, 2)


def test_model_backend_rollout_keeps_controls(tiny_model):
    sim = Simulation(32, "Obstacle course", lambda nx, ny: ModelBackend(tiny_model))
    for _ in range(30):
        frame = sim.advance()
    assert frame.finite and frame.ms_model > 0
    assert frame.density[frame.emitter >= 1.0].min() > 0.5  # emitters inject smoke
    assert frame.density[frame.collider > 0.5].max() == 0.0  # colliders hold none
    assert np.abs(frame.velocity[frame.collider > 0.5]).max() == 0.0


def test_foreign_file_is_not_a_backend(tmp_path):
    from play_models import write_foreign_model

    from fieldcast.engine.runtime import ModelError

    with pytest.raises(ModelError, match="not a Fieldcast model"):
        ModelBackend(write_foreign_model(tmp_path / "x.onnx"))


def test_compare_and_grid_change(tiny_model):
    sim = Simulation(32, "Plume", lambda nx, ny: ModelBackend(tiny_model))
    frame = sim.set_compare(True)
    assert frame.error == 0.0  # both start from the same state
    for _ in range(5):
        frame = sim.advance()
    assert frame.error > 0 and frame.reference_density.shape == (32, 32)
    frame = sim.set_size(48)
    assert frame.density.shape == (48, 48) and sim.reference is not None and frame.error == 0.0
    assert sim.advance().reference_velocity.shape == (48, 48, 2)


def test_a_multi_frame_model_keeps_the_reference_solver_in_step(tmp_path):
    from play_models import write_tiny_smoke_model

    from fieldcast.app.play.simulation import SolverBackend

    model = write_tiny_smoke_model(tmp_path / "k3.onnx", frames_per_step=3)
    sim = Simulation(32, "Plume", lambda nx, ny: ModelBackend(model))
    sim.set_compare(True)
    frame = sim.advance()
    assert frame.index == 3  # one call, three simulated frames
    alone = Simulation(32, "Plume", lambda nx, ny: SolverBackend(nx, ny, sim.scene.params))
    for _ in range(3):
        expected = alone.advance()
    np.testing.assert_allclose(frame.reference_density, expected.density, atol=1e-12)


def test_a_model_starts_with_its_emitters_blowing(tiny_model):
    sim = Simulation(32, "Plume", lambda nx, ny: ModelBackend(tiny_model))
    emitter, _ = sim.controls.masks()
    start = sim.backend.rollout.fields()["velocity"]
    full = emitter >= 1.0
    assert full.any()
    np.testing.assert_allclose(start[full], sim.controls.emitter_velocity()[full], atol=1e-6)
    assert np.all(start[emitter == 0] == 0.0)  # still air elsewhere, as the scene starts
    assert np.all(sim.frame.velocity == 0.0)  # the frame shown is the scene's own start


def test_bounds_can_be_turned_off_and_report_what_they_changed(tiny_model):
    sim = Simulation(32, "Plume", lambda nx, ny: ModelBackend(tiny_model))
    frame = sim.advance()
    assert 0.0 <= frame.stats["bounded_cells"] <= 1.0 and frame.stats["smoke_removed"] >= 0.0
    sim.set_bounds(False)
    assert sim.backend.bounds is False
    for _ in range(3):
        frame = sim.advance()
    assert frame.stats["bounded_cells"] == 0.0 and frame.stats["smoke_removed"] == 0.0
    sim.set_backend(lambda nx, ny: ModelBackend(tiny_model))  # a new backend keeps the user's choice
    assert sim.backend.bounds is False


def test_stepper_thread_plays_and_stops(qtbot):
    stepper = Stepper(Simulation(32, "Plume"))
    frames = []

    def take(frame):
        frames.append(frame)
        stepper.frame_received()

    stepper.sig_frame.connect(take)
    stepper.rate = 0.0
    stepper.start()
    stepper.play()
    qtbot.waitUntil(lambda: len(frames) >= 10, timeout=10_000)
    stepper.pause()
    assert [f.index for f in frames] == sorted(f.index for f in frames)
    with qtbot.waitSignal(stepper.sig_error):
        stepper.call(lambda: stepper.simulation.set_scene("no such scene"))
    assert stepper.stop()
    assert not stepper.is_alive()


@pytest.mark.skipif(not mp4_available(), reason="imageio-ffmpeg not installed")
def test_recorder_writes_mp4(tmp_path):
    rec = Recorder(tmp_path / "clip.mp4", fps=20)
    field = np.linspace(0, 1, 40 * 30).reshape(40, 30)
    for _ in range(6):
        rec.add(render_rgb(field, "inferno", (0.0, 1.0), np.zeros((40, 30)), np.zeros((40, 30))))
    path = rec.stop()
    assert path.stat().st_size > 1000
    with pytest.raises(ValueError):
        Recorder(tmp_path / "clip.avi")
