"""UNet family options: kernel size, separable convolutions, initialisation, max-pool downsampling."""

import pytest
import torch
from torch import nn

from fieldcast.training.models import UNetConfig, build_model


def _small(**kw):
    return build_model("unet", {"in_channels": 5, "out_channels": 1, "depth": 2, "base_width": 8, **kw})


def test_defaults_keep_the_parameter_names_and_shapes():
    # checkpoints saved before the options existed hold these keys: full 3x3 convolutions, stride-2 down
    model = _small()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["stem.conv1.weight"] == (8, 5, 3, 3)
    assert shapes["downs.0.down.weight"] == (8, 8, 3, 3)
    assert not any(".conv1.0." in k for k in shapes)


def test_separable_kernel9_maxpool_glorot_paper_setup():
    torch.manual_seed(0)
    model = _small(kernel_size=9, separable=True, downsampling="maxpool", init="glorot", norm="batch")
    depthwise, pointwise = model.stem.conv1
    assert depthwise.weight.shape == (5, 1, 9, 9) and depthwise.groups == 5
    assert pointwise.weight.shape == (8, 5, 1, 1)
    assert isinstance(model.downs[0].down, nn.MaxPool2d)
    full = _small(kernel_size=9)
    assert model.n_parameters() < full.n_parameters() / 3  # separable is far lighter
    # Glorot-uniform bound sqrt(6 / (fan_in + fan_out)) and zero biases
    w = model.head.weight
    bound = (6.0 / (w.shape[0] + w.shape[1])) ** 0.5
    assert w.abs().max() <= bound and w.abs().max() > 0.5 * bound
    assert torch.count_nonzero(model.head.bias) == 0
    for size in (64, 33):  # odd grids keep their size through max-pooling
        out = model(torch.randn(2, 5, size, size))
        assert out.shape == (2, 1, size, size)


def test_receptive_field_follows_the_kernel():
    x = torch.zeros(1, 5, 32, 32, requires_grad=True)
    model = _small(kernel_size=5, depth=0, bottleneck_blocks=0, residual=False, norm="none")
    model.eval()
    model(x)[0, 0, 16, 16].backward()
    reach = torch.nonzero(x.grad.abs().sum(dim=1)[0])
    # two 5x5 convolutions reach 4 cells either side
    assert reach[:, 0].min() == 12 and reach[:, 0].max() == 20


@pytest.mark.parametrize("bad", [dict(kernel_size=4), dict(init="he"), dict(downsampling="avg")])
def test_bad_options_are_refused(bad):
    with pytest.raises(ValueError, match="UNetConfig"):
        UNetConfig(**bad)
