import pytest
import torch

from fieldcast.engine.systems import get_spec
from fieldcast.training.models import build_model
from fieldcast.training.rollout import RolloutModule, SurrogateStep, build_layout, rollout_weights


def smoke_layout(**kw):
    spec = get_spec("smoke")
    return build_layout(spec, spec.channel_names(), ["density"], "collider", ["density"], **kw)


def make_module(layout, seed=0):
    torch.manual_seed(seed)
    model = build_model(
        "unet",
        dict(
            in_channels=layout.in_channels,
            out_channels=layout.out_channels,
            depth=1,
            base_width=4,
            norm="none",
        ),
    )
    ones = [1.0] * layout.in_channels
    return RolloutModule(SurrogateStep(model, [0.0] * len(ones), ones, [0.0] * 3, [1.0] * 3), layout)


def test_smoke_layout_is_six_in_three_out():
    lay = smoke_layout()
    assert lay.in_channels == 6 and lay.out_channels == 3
    assert lay.input_names() == ["density", "velocity_x", "velocity_y", "density@t-1", "emitter", "collider"]
    assert lay.vectors == ((1, 2),) and lay.solid == 1 and lay.nonnegative == (0,)
    full = build_layout(get_spec("smoke"), get_spec("smoke").channel_names())
    assert full.in_channels == 3 + 3 + 2  # earlier frames keep every state channel by default
    with pytest.raises(ValueError, match="not one of"):
        build_layout(get_spec("smoke"), get_spec("smoke").channel_names(), ["pressure"])


def test_weights_grow_by_gamma_and_sum_to_one():
    w = rollout_weights(3, 1.1)
    assert w.sum().item() == pytest.approx(1.0)
    assert (w[1] / w[0]).item() == pytest.approx(1.1) and (w[2] / w[0]).item() == pytest.approx(1.21)


def test_controls_are_reimposed():
    module = make_module(smoke_layout())
    state = torch.full((1, 3, 4, 4), -1.0)
    controls = torch.zeros(1, 2, 4, 4)
    controls[0, 1, 0, 0] = 1.0
    out = module.impose(state, controls)
    assert torch.all(out[:, 0] == 0.0)  # density clamped at 0
    assert torch.all(out[0, 1:, 0, 0] == 0.0) and torch.all(out[0, 1:, 1, 1] == -1.0)


def test_rollout_feeds_predictions_back():
    lay = smoke_layout()
    module = make_module(lay)
    window = torch.rand(2, 5, 5, 8, 8)
    preds = module(window, 3)
    assert preds.shape == (2, 3, 3, 8, 8)
    window2 = window.clone()
    window2[:, 3, :3] += 1.0  # true state at frame 3 must not influence the rollout
    assert torch.equal(module(window2, 3), preds)


def test_truncation_changes_gradients_through_the_rollout():
    lay = smoke_layout()
    window = torch.rand(2, 5, 5, 8, 8)
    grads = {}
    for truncate in (False, True):
        module = make_module(lay, seed=1)
        preds = module(window, 3, truncate=truncate)
        loss = sum(
            w * ((preds[:, k] - window[:, 2 + k, :3]) ** 2).mean()
            for k, w in enumerate(rollout_weights(3, 1.1))
        )
        loss.backward()
        grads[truncate] = torch.cat([p.grad.flatten() for p in module.parameters()])
        preds_again = module(window, 3, truncate=not truncate)
        assert torch.allclose(preds, preds_again)  # same forward values either way
    assert not torch.allclose(grads[False], grads[True])


def test_input_noise_is_off_by_default_and_zero_noise_changes_nothing():
    lay = smoke_layout()
    window = torch.rand(2, 5, 5, 8, 8)
    plain = make_module(lay, seed=2)
    assert plain.input_noise == 0.0
    quiet = make_module(lay, seed=2)
    quiet.input_noise = 0.0
    torch.manual_seed(5)
    assert torch.equal(plain(window, 2), quiet(window, 2))
    with pytest.raises(ValueError, match="input_noise"):
        RolloutModule(plain.step, lay, input_noise=-0.1)


def test_input_noise_perturbs_training_only():
    from fieldcast.training.config import LossConfig
    from fieldcast.training.losses import LossComposer
    from fieldcast.training.validation import rollout_loss, validate

    lay = smoke_layout()
    window = torch.rand(2, 5, 5, 8, 8)
    composer = LossComposer(LossConfig(), lay, torch.ones(3))
    weights = rollout_weights(2, 1.0)
    clean, noisy = make_module(lay, seed=3), make_module(lay, seed=3)
    noisy.input_noise = 0.5
    loss_clean = rollout_loss(clean, window, composer, 2, weights, False)[0]
    torch.manual_seed(0)
    loss_noisy = rollout_loss(noisy, window, composer, 2, weights, False)[0]
    torch.manual_seed(1)
    loss_noisy2 = rollout_loss(noisy, window, composer, 2, weights, False)[0]
    assert loss_noisy.item() != loss_clean.item()
    assert loss_noisy.item() != loss_noisy2.item()  # fresh noise every call
    assert noisy.training  # the noise is drawn in training mode only ...
    noisy.eval()
    assert torch.equal(noisy(window, 2), clean.eval()(window, 2))  # ... so inference is unchanged
    noisy.train()
    clean.train()
    args = (composer, 2, weights, [], torch.device("cpu"))
    assert validate(noisy, [window], *args) == validate(clean, [window], *args)  # and so is validation


def test_recipe_checks_input_noise():
    from fieldcast.training.config import RecipeError, recipe_from_dict

    assert recipe_from_dict({}).rollout.input_noise == 0.0
    assert recipe_from_dict({"rollout": {"input_noise": 0.02}}).rollout.input_noise == 0.02
    with pytest.raises(RecipeError, match="rollout.input_noise"):
        recipe_from_dict({"rollout": {"input_noise": -0.01}})
