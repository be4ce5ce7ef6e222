"""Tasks: how a model learns from a system's data. One module per task; the trainer is shared.

- ``field_rollout``: next state from history and controls, K-step curriculum (UNet family).
- ``recurrent_field``: a ConvLSTM streaming its state, told the next frame of a driving field.
- ``sequence``: a streaming LSTM over per-sample channels.
"""

from fieldcast.training.tasks.base import Samples, Task, get_task, register_task, task_names

__all__ = ["Samples", "Task", "get_task", "register_task", "task_names"]
