import pytest
import torch

from fieldcast.engine.systems import get_spec
from fieldcast.training import losses
from fieldcast.training.config import LossConfig
from fieldcast.training.rollout import build_layout


def test_data_terms():
    p, t = torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 2.0)
    assert losses.mse(p, t) == 4.0 and losses.mae(p, t) == 2.0
    assert losses.hybrid(p, t, alpha=0.7) == pytest.approx(0.7 * 2 + 0.3 * 4)
    w = torch.zeros(1, 1, 4, 4)
    w[..., 0, 0] = 1.0
    t2 = t.clone()
    t2[..., 0, 0] = 1.0
    assert losses.mse(p, t2, w) == 1.0  # only the weighted cell counts


def test_divergence_of_analytic_fields():
    x = torch.arange(8.0)[:, None].expand(8, 8)
    y = torch.arange(8.0)[None, :].expand(8, 8)
    assert torch.allclose(losses.divergence(x, y), torch.full((6, 6), 2.0))  # div(x, y) = 2
    assert torch.allclose(losses.divergence(-y, x), torch.zeros(6, 6))  # rotation is divergence-free
    state = torch.stack([torch.zeros(8, 8), x, y])[None]
    assert losses.divergence_loss(state, ((1, 2),)) == pytest.approx(4.0)


def test_emitter_loss_only_where_nothing_can_reach():
    prev = torch.zeros(1, 8, 8)
    prev[0, 2, 2] = 1.0
    emitter = torch.zeros(1, 8, 8)
    near = torch.zeros(1, 8, 8)
    near[0, 3, 3] = 1.0  # one cell from existing smoke
    assert losses.emitter_loss(near, prev, emitter, radius=1) == 0.0
    far = torch.zeros(1, 8, 8)
    far[0, 7, 7] = 1.0
    assert losses.emitter_loss(far, prev, emitter, radius=1) > 0
    emitter[0, 7, 7] = 1.0
    assert losses.emitter_loss(far, prev, emitter, radius=1) == 0.0


def test_gradient_loss_and_weight_maps():
    t = torch.zeros(1, 1, 6, 6)
    t[..., 3:, :] = 1.0  # an edge
    assert losses.gradient_loss(t, t) == 0.0
    assert losses.gradient_loss(torch.zeros_like(t), t) > 0
    w = losses.weight_map("gradient", t, None, 2.0)
    assert w.shape == (1, 1, 6, 6) and w.max() == pytest.approx(3.0) and w.min() == pytest.approx(1.0)
    m = losses.weight_map("mask", t, torch.ones(1, 6, 6), 1.0)
    assert torch.all(m == 2.0)
    assert losses.weight_map("none", t, None, 1.0) is None


def test_composer_weights_each_term():
    spec = get_spec("smoke")
    layout = build_layout(spec, spec.channel_names(), ["density"], "collider", ["density"])
    cfg = LossConfig(
        mse=2.0,
        mae=1.0,
        hybrid=0.5,
        divergence=0.1,
        emitter=0.3,
        gradient=0.2,
        weight_map="mask",
        weight_map_channel="collider",
    )
    comp = losses.LossComposer(cfg, layout, torch.tensor([1.0, 2.0, 2.0]))
    pred, target, prev = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    total, parts = comp(pred, target, prev, torch.rand(2, 2, 8, 8))
    assert set(parts) == {"mse", "mae", "hybrid", "divergence", "emitter", "gradient"}
    expected = sum(getattr(cfg, k) * v for k, v in parts.items())
    assert total == pytest.approx(float(expected))
    with pytest.raises(ValueError, match="weight_map_channel"):
        losses.LossComposer(LossConfig(weight_map="mask", weight_map_channel="nope"), layout, torch.ones(3))


def test_energy_loss_sees_damping_not_position():
    torch.manual_seed(0)
    truth = torch.randn(2, 3, 16, 16)
    moved = torch.roll(truth, shifts=(5, -3), dims=(-2, -1))  # the same fields elsewhere: same energy
    assert float(losses.energy_loss(moved, truth)) < 1e-10
    assert float(losses.mse(moved, truth)) > 1.0  # while a pointwise loss punishes the shift
    damped = 0.5 * truth  # a quarter of the energy: (0.75 mean square)² on average
    ms = truth.square().mean(dim=(-2, -1))
    assert float(losses.energy_loss(damped, truth)) == pytest.approx(
        float(((0.75 * ms) ** 2).mean()), rel=1e-5
    )
