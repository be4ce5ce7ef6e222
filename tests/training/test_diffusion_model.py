"""The conditional denoising UNet with its shifted-window condition encoder (diffusion_unet)."""

import pytest
import torch

from fieldcast.training.config import load_recipe
from fieldcast.training.models import build_model
from fieldcast.training.models.diffusion import SwinBlock, _shift_mask, timestep_embedding

TINY = {"widths": [8, 16, 32], "time_dim": 16, "swin_dim": 8, "swin_depths": [2, 2], "swin_heads": [1, 2]}


def _model(**kw):
    torch.manual_seed(0)
    args = {"in_channels": 3, "out_channels": 1, "grid": [16, 16], "window": 4, **TINY, **kw}
    return build_model("diffusion_unet", args).eval()


def test_denoiser_shapes_and_timestep_dependence():
    m = _model()
    c, x = torch.randn(2, 3, 16, 16), torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        y0 = m(c, x, torch.tensor([5.0, 5.0]))
        y1 = m(c, x, torch.tensor([500.0, 500.0]))
    assert y0.shape == (2, 1, 16, 16)
    assert (y0 - y1).abs().max() > 1e-4  # the timestep reaches the output


def test_condition_reaches_the_output_through_the_encoder():
    m = _model()
    x, t = torch.randn(1, 1, 16, 16), torch.tensor([100.0])
    c = torch.randn(1, 3, 16, 16)
    c2 = c.clone()
    c2[:, :, 0, 0] += 1.0  # one corner pixel of the condition
    with torch.no_grad():
        d = (m(c, x, t) - m(c2, x, t)).abs()[0, 0]
    assert d[-1, -1] > 0  # the far corner feels it: attention and the UNet carry it across the map


def test_regression_variant_reads_only_the_condition():
    m = _model(noise_input=False)
    assert not hasattr(m, "time_mlp") and m.stem.in_channels == 3
    with torch.no_grad():
        assert m(torch.randn(2, 3, 16, 16)).shape == (2, 1, 16, 16)
    with pytest.raises(ValueError, match="needs x_t and t"):
        _model()(torch.randn(1, 3, 16, 16))


def test_timestep_embedding_is_sinusoidal():
    e = timestep_embedding(torch.tensor([0.0, 3.0]), 8)
    assert e.shape == (2, 8)
    assert torch.allclose(e[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert torch.allclose(e[1, 0], torch.sin(torch.tensor(3.0)))


def test_shifted_windows_alternate_and_mask_only_across_the_wrap():
    mask = _shift_mask(8, 8, 4, 2)
    assert mask.shape == (4, 16, 16)
    assert (mask[0] == 0).all()  # the top-left window holds one region: nothing masked
    assert (mask[-1] < 0).any()  # the corner window mixes four regions after the roll
    block = SwinBlock(8, 2, 4, 2, (8, 8))
    assert block.shift == 2 and block.mask is not None
    assert SwinBlock(8, 2, 4, 2, (4, 4)).shift == 0  # one window covers the map: no shift


def test_shipped_recipe_size_fits_a_cpu():
    args = dict(load_recipe("radio_diffusion").model.args)
    m = build_model("diffusion_unet", {**args, "in_channels": 2, "out_channels": 1, "grid": [64, 64]})
    n = sum(p.numel() for p in m.parameters())
    assert 1_000_000 <= n <= 3_000_000


def test_bad_configurations_are_refused():
    with pytest.raises(ValueError, match="multiple of 4"):
        _model(grid=[18, 18])
    with pytest.raises(ValueError, match="one entry per stage"):
        _model(swin_heads=[1])


def test_windows_shrink_to_tile_a_map_they_do_not_divide():
    block = SwinBlock(8, 2, 8, 4, (12, 12))  # 12 tokens: 8-token windows do not tile it, 6 do
    assert block.window == 6 and block.shift == 3
    x = torch.randn(2, 12, 12, 8)
    assert block(x).shape == x.shape


def test_a_generative_dataset_without_a_recipe_gets_conditional_diffusion(tmp_path):
    from generative_data import write

    from fieldcast.engine.data import open_dataset
    from fieldcast.training.config import recipe_from_dict
    from fieldcast.training.defaults import default_recipe
    from fieldcast.training.trainer import Trainer

    data = open_dataset(write(tmp_path / "g.h5", trajectories=4, frames=2, n=24))
    recipe = default_recipe(data)
    assert recipe["task"] == "generative" and recipe["model"]["name"] == "diffusion_unet"
    recipe["train"] = {"epochs": 1, "max_steps": 1, "device": "cpu", "amp": False, "validate_every": 0}
    events = list(Trainer(recipe_from_dict(recipe), data, None).run())
    assert events[-1].status == "completed"
