import pytest
import torch

from fieldcast.training.config import OptimConfig, SchedulerConfig
from fieldcast.training.devices import DeviceError, select_device
from fieldcast.training.schedule import LRSchedule, build_optimizer


def test_warmup_then_linear_decay():
    s = LRSchedule(SchedulerConfig(name="linear", warmup_steps=4), 1.0, total_steps=10)
    assert s.lr(0) == pytest.approx(0.25 * 1.0) and s.lr(3) == pytest.approx(0.7)
    assert s.lr(10) == 0.0


def test_cosine_warm_restarts():
    s = LRSchedule(
        SchedulerConfig(name="cosine_restarts", restart_period=4, restart_mult=2, min_lr=0.1), 1.0, 100
    )
    assert s.lr(0) == 1.0 and s.lr(2) == pytest.approx(0.55)
    assert s.lr(4) == 1.0 and s.lr(12) == 1.0  # restarts after 4, then after 8 more


def test_plateau_reduces_and_resumes():
    s = LRSchedule(SchedulerConfig(name="plateau", plateau_patience=1, plateau_factor=0.5), 1.0, 10)
    assert [s.observe(v) for v in (1.0, 1.0, 1.0)] == [False, False, True]
    assert s.lr(0) == 0.5
    t = LRSchedule(SchedulerConfig(name="plateau"), 1.0, 10)
    t.load_state_dict(s.state_dict())
    assert t.lr(0) == 0.5 and t.best == 1.0


def test_optimizers():
    p = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(build_optimizer(p, OptimConfig(name="adamw", weight_decay=0.01)), torch.optim.AdamW)
    assert isinstance(build_optimizer(p, OptimConfig()), torch.optim.Adam)


def test_devices():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(DeviceError):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA"):
            select_device("cuda")
