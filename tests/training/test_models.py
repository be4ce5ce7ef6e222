import itertools

import pytest
import torch

from fieldcast.training.models import UNetConfig, build_model, get_family, model_metadata, model_names


def test_unet_is_registered_with_its_config():
    assert "unet" in model_names()
    assert get_family("unet").config_cls is UNetConfig
    with pytest.raises(KeyError, match="unknown model family"):
        get_family("nope")


@pytest.mark.parametrize(
    "norm,act,up,residual",
    list(
        itertools.product(
            ["batch", "instance", "group", "none"],
            ["relu", "leakyrelu", "gelu", "silu"],
            ["bilinear", "transpose"],
            [True, False],
        )
    )[::5],
)
def test_unet_options_keep_the_grid(norm, act, up, residual):
    model = build_model(
        "unet",
        dict(
            in_channels=6,
            out_channels=3,
            depth=2,
            base_width=4,
            norm=norm,
            groups=2,
            activation=act,
            upsampling=up,
            residual=residual,
            dropout=0.1,
        ),
    )
    out = model(torch.randn(2, 6, 16, 12))
    assert out.shape == (2, 3, 16, 12)


def test_odd_grid_and_clamped_output():
    model = build_model(
        "unet",
        dict(
            in_channels=2,
            out_channels=1,
            depth=2,
            base_width=4,
            output_clamp=0.5,
            upsampling="transpose",
            padding_mode="zeros",
        ),
    )
    with torch.no_grad():
        model.head.bias.fill_(10.0)
        out = model(torch.randn(1, 2, 13, 9))
    assert out.shape == (1, 1, 13, 9)
    assert out.max() <= 0.5


def test_metadata_rebuilds_the_same_model():
    model = build_model("unet", dict(in_channels=3, out_channels=2, depth=1, base_width=4))
    meta = model_metadata(model)
    assert meta["name"] == "unet" and meta["version"] == "1" and meta["args"]["base_width"] == 4
    clone = build_model(meta["name"], meta["args"])
    clone.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 8, 8)
    model.eval()
    clone.eval()
    assert torch.equal(model(x), clone(x))


@pytest.mark.parametrize(
    "bad",
    [
        {"norm": "layer"},
        {"activation": "tanh"},
        {"upsampling": "pixel"},
        {"dropout": 1.5},
        {"padding_mode": "wrap"},
    ],
)
def test_bad_config_values_are_rejected(bad):
    with pytest.raises(ValueError, match="UNetConfig"):
        UNetConfig(**bad)
