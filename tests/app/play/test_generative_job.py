"""The generative page's job and conditions without a window: the generator's events in order, cancel, scores,
drawn conditions as the generator draws them, and datasets that are not conditions."""

from __future__ import annotations

import numpy as np
import pytest
from generative_runs import train_tiny, write_dataset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("generative-job"))


def _drawing():
    from fieldcast.app.play.generative_condition import DrawnCondition

    drawing = DrawnCondition("radio", 16)
    drawing.press(3.5, 3.5, "paint", 1.0)
    drawing.drag(3.5, 12.5, "paint", 1.0)
    drawing.release()
    drawing.press(11.5, 8.5, "transmitter", 1.0)
    return drawing


def test_the_job_yields_condition_steps_and_result_in_order(tiny):
    from fieldcast.app.play.generative_job import (
        ConditionReady,
        DenoiseStep,
        GenerationRequest,
        GenerationResult,
        generation_job,
    )
    from fieldcast.engine import generative_metrics as gm
    from fieldcast.engine.generative import GenerativeSession
    from fieldcast.engine.jobs import CancelToken, Progress
    from fieldcast.engine.systems.thermal_imaging import reference

    session = GenerativeSession(tiny.model)
    drawing = _drawing()
    assert drawing.buildings[3, 3:13].min() == 1.0 and drawing.problem() is None
    request = GenerationRequest("radio", n=3, steps=4, seed=1, drawing=drawing)
    events = list(generation_job(CancelToken(), session, request))
    kinds = [type(e) for e in events]
    assert kinds[0] is Progress and kinds[1] is ConditionReady and kinds[-1] is GenerationResult
    steps = [e for e in events if isinstance(e, DenoiseStep)]
    assert [s.step for s in steps] == [1, 2, 3, 4] and steps[0].x0.shape == (3, 16, 16)
    result = events[-1]
    np.testing.assert_allclose(result.reference, reference("radio", drawing.radio_condition()), rtol=1e-6)
    # The same samples as the engine's sampler gives for that condition and seed.
    stacked = np.stack([drawing.radio_condition()[c] for c in session.info.condition_channels])
    np.testing.assert_allclose(result.samples, session.sample(stacked, n=3, steps=4, seed=1), rtol=1e-5)
    lo, hi = session.info.data_range
    unit = gm.to_unit_range(result.mean, lo, hi), gm.to_unit_range(result.reference, lo, hi)
    assert result.metrics["nmse"] == pytest.approx(gm.nmse(*unit))
    assert result.metrics["ssim"] == pytest.approx(gm.ssim(*unit))
    np.testing.assert_allclose(steps[-1].x0, result.samples, atol=1e-3)  # the last estimate is the sample


def test_cancel_stops_the_sampler_between_steps(tiny):
    from fieldcast.app.play.generative_job import DenoiseStep, GenerationRequest, generation_job
    from fieldcast.engine.generative import GenerativeSession
    from fieldcast.engine.jobs import Cancelled, CancelToken

    token = CancelToken()
    job = generation_job(
        token, GenerativeSession(tiny.model), GenerationRequest("radio", n=2, steps=50, drawing=_drawing())
    )
    seen = 0
    with pytest.raises(Cancelled):
        for event in job:
            if isinstance(event, DenoiseStep):
                seen += 1
                token.cancel()
    assert 1 <= seen < 50


def test_a_dataset_that_holds_no_conditions_is_named(tmp_path):
    from fieldcast.app.play.generative_condition import ConditionError, DatasetConditions
    from fieldcast.engine.generation import generate_dataset

    smoke = tmp_path / "smoke.h5"
    for _ in generate_dataset("smoke", smoke, trajectories=1, frames=2, size=16, seed=0):
        pass
    with pytest.raises(ConditionError, match="smoke.h5: a smoke dataset"):
        DatasetConditions(smoke)
    text = tmp_path / "notes.h5"
    text.write_text("hello", encoding="utf-8")
    with pytest.raises(ConditionError, match="notes.h5"):
        DatasetConditions(text)
    ok = DatasetConditions(write_dataset(tmp_path / "radio.h5", trajectories=2, frames=3))
    assert (len(ok), ok.source, ok.target, ok.conditions) == (
        6,
        "radio",
        "power_db",
        ["buildings", "transmitter"],
    )
    with pytest.raises(ConditionError, match="no sample 6"):
        ok.read(6)
    ok.close()
