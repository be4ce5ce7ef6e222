"""Model families for Fieldcast surrogates; each registers itself by name on import."""

from fieldcast.training.models.convlstm import ConvLSTM, ConvLSTMConfig
from fieldcast.training.models.diffusion import DiffusionUNet, DiffusionUNetConfig
from fieldcast.training.models.lstm import LSTMConfig, LSTMNet
from fieldcast.training.models.registry import (
    ModelFamily,
    build_model,
    get_family,
    model_metadata,
    model_names,
    register_model,
)
from fieldcast.training.models.smoke_flow import SmokeFlow, SmokeFlowConfig
from fieldcast.training.models.unet import UNet, UNetConfig

__all__ = [
    "ConvLSTM",
    "ConvLSTMConfig",
    "DiffusionUNet",
    "DiffusionUNetConfig",
    "LSTMConfig",
    "LSTMNet",
    "ModelFamily",
    "SmokeFlow",
    "SmokeFlowConfig",
    "UNet",
    "UNetConfig",
    "build_model",
    "get_family",
    "model_metadata",
    "model_names",
    "register_model",
]
