"""ONNX Runtime sessions for exported Fieldcast models: validated once, created once, run many times.

:class:`ModelSession` checks a file before ONNX Runtime sees it (so a foreign, damaged or hostile file gives
one clear :class:`ModelError` instead of a crash), asks only for execution providers whose device exists
(:func:`fieldcast.engine.devices.usable_providers`), and reuses its output buffers between steps.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from fieldcast.engine.devices import usable_providers
from fieldcast.engine.limits import format_bytes, memory_budget
from fieldcast.engine.model_format import INPUT, OUTPUT, ModelInfo, parse_metadata

__all__ = [
    "ModelError",
    "ModelInfo",
    "ModelSession",
    "find_variants",
    "interactive_sessions",
    "load_checked",
    "physical_cores",
]

# Set by interactive_sessions(): sessions share the machine with a window that must keep answering.
_INTERACTIVE = False


def interactive_sessions(on: bool = True) -> None:
    """Sessions made from now on leave one core to the window and sleep between operators.

    ONNX Runtime's intra-op threads spin on a core between operators by default, and use every core:
    right for a benchmark, wrong beside a window, whose thread then waits for a CPU behind them (on two
    cores a Play rollout kept the event loop waiting tens of ms). An application with a window calls this
    once; the command line keeps ONNX Runtime's defaults.
    """
    global _INTERACTIVE
    _INTERACTIVE = bool(on)


class ModelError(Exception):
    """A model file that cannot be used; ``str()`` is one line, ``"PATH: problem"``."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads share a core's arithmetic units)."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        allowed = os.cpu_count() or 1
    cores = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            phys = "0"
            for line in f:
                if line.startswith("physical id"):
                    phys = line.split(":")[1].strip()
                elif line.startswith("core id"):
                    cores.add((phys, line.split(":")[1].strip()))
    except OSError:
        cores = set()
    physical = len(cores) or max(1, (os.cpu_count() or 2) // 2)
    return max(1, min(physical, allowed))


def find_variants(path: str | os.PathLike) -> dict[str, Path]:
    """Exported variants that exist beside ``path`` (a model file or a run folder).

    ``model.onnx`` (or ``model.fp16.onnx`` ...) gives ``{"fp32": model.onnx, "fp16": model.fp16.onnx,
    "int8": model.int8.onnx}`` restricted to the files present; a folder looks for ``model*.onnx``.
    """
    path = Path(path)
    folder, stem = (
        (path.parent, path.name.removesuffix(".onnx")) if path.suffix == ".onnx" else (path, "model")
    )
    for suffix in (".fp16", ".int8"):
        stem = stem.removesuffix(suffix)
    names = {"fp32": f"{stem}.onnx", "fp16": f"{stem}.fp16.onnx", "int8": f"{stem}.int8.onnx"}
    return {v: folder / name for v, name in names.items() if (folder / name).is_file()}


def _check_external_data(model, path: Path) -> None:
    """External-data locations must be plain relative names that stay inside the model's folder."""
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    folder = path.parent.resolve()
    external = 0
    for tensor in _get_all_tensors(model):
        if not uses_external_data(tensor):
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        rel = Path(location)
        if not location or rel.is_absolute() or ".." in rel.parts or location.startswith(("/", "\\")):
            raise ModelError(path, f"external data {location!r} points outside the model's folder")
        target = (folder / rel).resolve()
        if not target.is_relative_to(folder):
            raise ModelError(path, f"external data {location!r} leads outside the model's folder (symlink)")
        if not target.is_file():
            raise ModelError(path, f"external data file {location!r} is missing")
        fields = {e.key: e.value for e in tensor.external_data}
        try:
            offset, length = int(fields.get("offset", 0)), int(fields.get("length", -1))
        except ValueError:
            raise ModelError(
                path, f"external data of {tensor.name!r} has a malformed offset or length"
            ) from None
        available = target.stat().st_size
        if length < 0:
            length = available - offset
        if offset < 0 or offset + length > available:
            raise ModelError(
                path,
                f"external data of {tensor.name!r} claims bytes {offset}..{offset + length} of "
                f"{location!r}, which holds {available}",
            )
        external += length
    if external > memory_budget():
        raise ModelError(
            path,
            f"external weights of {format_bytes(external)} are over the memory budget of "
            f"{format_bytes(memory_budget())}",
        )


def load_checked(path: str | os.PathLike):
    """Load and check an ONNX file without running it; returns ``(onnx.ModelProto, ModelInfo)``.

    Raises
    ------
    ModelError : the file is missing, not ONNX, damaged, escapes its folder, or is not a Fieldcast model.
    """
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ModelError(path, "file not found")
    size = path.stat().st_size
    if size > memory_budget():
        raise ModelError(
            path, f"file of {format_bytes(size)} is over the memory budget of {format_bytes(memory_budget())}"
        )
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, RuntimeWarning-like errors or OSError
        raise ModelError(path, f"not a readable ONNX file ({type(exc).__name__})") from None
    if not model.graph.node:
        raise ModelError(path, "not an ONNX model (empty or truncated file)")
    _check_external_data(model, path)
    try:
        # By path, so the checker resolves external data relative to the model's own folder.
        onnx.checker.check_model(str(path))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(path, f"invalid ONNX model ({first})") from None
    props = {p.key: p.value for p in model.metadata_props}
    try:
        info = parse_metadata(props)
    except ValueError as exc:
        raise ModelError(path, str(exc)) from None
    _check_signature(model, info, path)
    return model, info


def _check_signature(model, info: ModelInfo, path: Path) -> None:
    import onnx

    inits = {t.name for t in model.graph.initializer}
    inputs = {i.name: i for i in model.graph.input if i.name not in inits}
    outputs = {o.name: o for o in model.graph.output}
    want_in = {INPUT, *(r.input for r in info.recurrent)}
    want_out = {OUTPUT, *(r.output for r in info.recurrent)}
    if set(inputs) != want_in or not want_out <= set(outputs):
        raise ModelError(
            path,
            f"inputs {sorted(inputs)} / outputs {sorted(outputs)} do not match the Fieldcast signature "
            f"(inputs {sorted(want_in)}, outputs {sorted(want_out)})",
        )
    for value, width in ((inputs[INPUT], len(info.input_channels)), (outputs[OUTPUT], info.output_width)):
        tt = value.type.tensor_type
        if tt.elem_type != onnx.TensorProto.FLOAT or len(tt.shape.dim) != 4:
            raise ModelError(path, f"{value.name!r} must be a float32 (batch, channels, nx, ny) tensor")
        c = tt.shape.dim[1]
        if c.HasField("dim_value") and c.dim_value != width:
            raise ModelError(path, f"{value.name!r} has {c.dim_value} channels, metadata names {width}")


def _first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (ONNX Runtime's run into several), cut to ``limit``."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    # ONNX Runtime prefixes "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT :"; the reason follows.
    first = first.split(" : ")[-1].strip() or first
    return first if len(first) <= limit else first[: limit - 1] + "…"


class ModelSession:
    """One ONNX Runtime session for one exported model; create it once and call :meth:`run` every step.

    Parameters
    ----------
    path : the ``.onnx`` file.
    providers : execution providers to ask for, in order; default: every usable one, fastest first.
        Providers this machine cannot use are dropped (never requested), the CPU provider is always last.
    threads : intra-op threads; default the physical cores available to this process.

    Attributes
    ----------
    info : the model's :class:`ModelInfo`.
    providers : providers ONNX Runtime actually uses for this session.
    """

    def __init__(
        self, path: str | os.PathLike, providers: Sequence[str] | None = None, threads: int | None = None
    ) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        _, self.info = load_checked(self.path)
        usable = usable_providers()
        wanted = [p for p in (providers or usable) if p in usable]
        if "CPUExecutionProvider" not in wanted:
            wanted.append("CPUExecutionProvider")
        opts = ort.SessionOptions()
        cores = physical_cores()
        opts.intra_op_num_threads = int(threads or (max(1, cores - 1) if _INTERACTIVE else cores))
        opts.inter_op_num_threads = 1  # a UNet step is one chain of ops: parallelism lives inside each op
        if _INTERACTIVE:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3  # errors only: fallback notices are reported through .providers
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=wanted)
        except Exception as exc:
            raise ModelError(self.path, f"ONNX Runtime cannot load it ({_first_line(exc)})") from None
        self.providers: list[str] = list(self.session.get_providers())
        self.threads = opts.intra_op_num_threads
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._lock = threading.Lock()
        self._binding = self.session.io_binding()
        # A failing run is raised as a ModelError naming the model; ONNX Runtime's own log of it (a
        # coloured multi-line record on stderr) would only repeat it without the file's name.
        self._run_options = ort.RunOptions()
        self._run_options.log_severity_level = 4
        self._buffers: dict[tuple[int, ...], dict[str, np.ndarray]] = {}

    @property
    def device(self) -> str:
        """Short name of the main provider in use (``CUDA``, ``CPU`` ...)."""
        return self.providers[0].removesuffix("ExecutionProvider")

    def _outputs_for(self, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        """Output buffers for an input of ``shape``, made on first use and reused afterwards."""
        buffers = self._buffers.get(shape)
        if buffers is None:
            b, _, nx, ny = shape
            buffers = {OUTPUT: np.empty((b, self.info.output_width, nx, ny), np.float32)}
            for r in self.info.recurrent:
                buffers[r.output] = np.empty(r.shape(b, nx, ny), np.float32)
            if len(self._buffers) > 8:  # a user resizing the grid many times: keep memory bounded
                self._buffers.clear()
            self._buffers[shape] = buffers
        return buffers

    def run(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one step.

        Parameters
        ----------
        inputs : the ``fields`` array, float32 (batch, C_in, nx, ny) in physical units, or a mapping with
            ``fields`` and any recurrent inputs.

        Returns
        -------
        ``{"next_fields": (batch, C_out, nx, ny), <recurrent outputs>}`` in physical units. The arrays are
        this session's buffers, overwritten by the next call with the same shape: copy what you keep.
        """
        feeds = {INPUT: inputs} if isinstance(inputs, np.ndarray) else dict(inputs)
        fields = np.ascontiguousarray(feeds[INPUT], dtype=np.float32)
        if fields.ndim != 4 or fields.shape[1] != len(self.info.input_channels):
            raise ValueError(
                f"{self.path.name}: expected fields (batch, {len(self.info.input_channels)}, nx, ny), "
                f"got {fields.shape}"
            )
        with self._lock:
            outputs = self._outputs_for(fields.shape)
            bind = self._binding
            bind.clear_binding_inputs()
            bind.bind_cpu_input(INPUT, fields)
            for r in self.info.recurrent:
                bind.bind_cpu_input(r.input, np.ascontiguousarray(feeds[r.input], dtype=np.float32))
            for name, arr in outputs.items():
                bind.bind_output(name, "cpu", 0, np.float32, list(arr.shape), arr.ctypes.data)
            try:
                self.session.run_with_iobinding(bind, self._run_options)
            except Exception as exc:  # ONNX Runtime's own errors: name the model, keep one line
                raise ModelError(self.path, f"ONNX Runtime failed to run it ({_first_line(exc)})") from None
        return outputs

    def __repr__(self) -> str:
        return f"ModelSession({self.path.name!r}, {self.info.system}, {self.info.variant}, {self.device})"
