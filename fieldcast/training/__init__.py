"""Training Fieldcast surrogates with torch: models, losses, recipes, the trainer, checkpoints, tracking.

No Qt here. The trainer is a generator of events (see :mod:`fieldcast.training.events`) that the CLI and the
GUI drive the same way.
"""

from fieldcast.training.checkpoint import load_checkpoint, load_model, save_checkpoint
from fieldcast.training.config import Recipe, RecipeError, load_recipe
from fieldcast.training.devices import select_device
from fieldcast.training.distributed import DistContext, init_distributed
from fieldcast.training.events import (
    CheckpointEvent,
    EpochEvent,
    FinishedEvent,
    SamplesEvent,
    StageEvent,
    StepEvent,
    ValidationEvent,
)
from fieldcast.training.models import build_model, model_names, register_model
from fieldcast.training.rollout import ChannelLayout, RolloutModule, SurrogateStep, build_layout
from fieldcast.training.runs import Curriculum
from fieldcast.training.tracking import read_metrics
from fieldcast.training.trainer import Trainer, TrainerControl

__all__ = [
    "ChannelLayout",
    "CheckpointEvent",
    "Curriculum",
    "DistContext",
    "EpochEvent",
    "FinishedEvent",
    "Recipe",
    "RecipeError",
    "RolloutModule",
    "SamplesEvent",
    "StageEvent",
    "StepEvent",
    "SurrogateStep",
    "Trainer",
    "TrainerControl",
    "ValidationEvent",
    "build_layout",
    "build_model",
    "init_distributed",
    "load_checkpoint",
    "load_model",
    "load_recipe",
    "model_names",
    "read_metrics",
    "register_model",
    "save_checkpoint",
    "select_device",
]
