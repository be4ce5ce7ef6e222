"""Security rules over Fieldcast's own source, checked with :mod:`ast` (used by ``test_rules.py`` in CI).

Each ``check_*`` function takes source text and returns the violations as ``"line N: what"`` strings, so a
rule can be proven on a synthetic snippet as well as run over every module of ``fieldcast/``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = [
    "ALLOWED_SESSION_MODULES",
    "IN_PLACE_WRITERS",
    "RULES",
    "check_atomic_writes",
    "check_eval_exec",
    "check_network",
    "check_np_load",
    "check_pickle",
    "check_session_after_validation",
    "check_torch_load",
    "package_sources",
    "session_modules",
]

PACKAGE = Path(__file__).resolve().parents[2] / "fieldcast"

#: the only modules allowed to create ``onnxruntime.InferenceSession`` (relative to ``fieldcast/``)
ALLOWED_SESSION_MODULES = {
    "engine/runtime.py",
    "engine/sequence_runtime.py",
    "engine/bench.py",
    "engine/generative.py",
    "engine/bench_generative.py",
    "app/smoke_test.py",
}
#: calls that validate an ONNX file before ONNX Runtime sees it
_VALIDATORS = {
    "load_checked",
    "load_sequence_checked",
    "load_generative_checked",
    "ModelSession",
    "SequenceSession",
    "GenerativeSession",
}
_NETWORK = {"urllib", "urllib3", "requests", "httpx", "aiohttp", "socket", "http", "ftplib", "smtplib"}
_UNPICKLERS = {"pickle", "cPickle", "_pickle", "marshal", "dill", "cloudpickle", "joblib", "shelve"}


#: the only modules allowed to write a file other than through ``fieldcast.engine.files``, and why
IN_PLACE_WRITERS = {
    "engine/files.py": "the atomic writer itself",
    "engine/data/writer.py": "HDF5 datasets grow a trajectory at a time; n_trajectories is the commit point",
    "engine/data/store.py": "edits a copy beside the file, fsyncs it and swaps it in with os.replace",
    "training/tracking.py": "metrics.jsonl is append-only; a torn last line is cut before appending",
    "app/smoke_test.py": "an HDF5 round trip in a private temporary folder",
}
# calls that write the file named by their argument at this index
_SAVERS = {
    "np.save": 0,
    "np.savez": 0,
    "np.savez_compressed": 0,
    "numpy.save": 0,
    "numpy.savez": 0,
    "numpy.savez_compressed": 0,
    "torch.save": 1,
    "onnx.save": 1,
    "onnx.save_model": 1,
    "imageio_ffmpeg.write_frames": 0,
    "shutil.copy": 1,
    "shutil.copy2": 1,
    "shutil.copyfile": 1,
}


def _calls(tree: ast.AST) -> Iterator[ast.Call]:
    return (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for a Name/Attribute chain, '' for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_const(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def check_torch_load(source: str) -> list[str]:
    """``torch.load`` only with ``weights_only=True`` written out (no ``**kwargs`` that could hide it)."""
    out = []
    for call in _calls(ast.parse(source)):
        if _dotted(call.func) == "torch.load" and not _is_const(_keyword(call, "weights_only"), True):
            out.append(f"line {call.lineno}: torch.load without weights_only=True")
    return out


def check_np_load(source: str) -> list[str]:
    """``np.load`` never with ``allow_pickle`` other than a literal False."""
    out = []
    for call in _calls(ast.parse(source)):
        if _dotted(call.func) in ("np.load", "numpy.load"):
            value = _keyword(call, "allow_pickle")
            if (value is not None and not _is_const(value, False)) or any(
                k.arg is None for k in call.keywords
            ):
                out.append(f"line {call.lineno}: np.load with allow_pickle")
    return out


def check_eval_exec(source: str) -> list[str]:
    """No ``eval``/``exec``/``compile`` of text, however they are reached."""
    out = []
    for call in _calls(ast.parse(source)):
        name = _dotted(call.func)
        if name in ("eval", "exec", "compile", "builtins.eval", "builtins.exec", "builtins.compile"):
            out.append(f"line {call.lineno}: {name}() call")
    return out


def check_pickle(source: str) -> list[str]:
    """No unpickling: ``pickle.load(s)``, ``marshal.loads`` and friends, or importing their loaders."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            module, _, attr = name.rpartition(".")
            if module.split(".")[0] in _UNPICKLERS and attr in ("load", "loads", "Unpickler"):
                out.append(f"line {node.lineno}: {name}() call")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in _UNPICKLERS:
            for alias in node.names:
                if alias.name in ("load", "loads", "Unpickler"):
                    out.append(f"line {node.lineno}: from {node.module} import {alias.name}")
    return out


def check_network(source: str) -> list[str]:
    """No networking modules imported: Fieldcast never talks to the network at run time."""
    out = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        out += [f"line {node.lineno}: imports {n}" for n in names if n.split(".")[0] in _NETWORK]
    return out


def _buffer_names(tree: ast.AST) -> set[str]:
    """Names the module binds to an in-memory buffer (``buf = io.BytesIO()``) or to the temporary file
    of an atomic write (``with atomic_path(path) as tmp``)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            if _dotted(node.value.func).split(".")[-1] in ("BytesIO", "StringIO"):
                out |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                call, var = item.context_expr, item.optional_vars
                if isinstance(call, ast.Call) and isinstance(var, ast.Name):
                    if _dotted(call.func).split(".")[-1] == "atomic_path":
                        out.add(var.id)
    return out


def _mode(call: ast.Call, position: int) -> str | None:
    node = _keyword(call, "mode")
    if node is None and len(call.args) > position:
        node = call.args[position]
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def check_atomic_writes(source: str) -> list[str]:
    """Files are written through ``fieldcast.engine.files`` (``atomic_write``, ``atomic_path``): no
    ``open`` for writing (appending to a log is allowed), ``write_text``/``write_bytes``, or library
    savers (NumPy, torch, ONNX, Pillow, matplotlib, ffmpeg, shutil, h5py) aimed at a path rather than an
    in-memory buffer."""
    tree = ast.parse(source)
    buffers = _buffer_names(tree)
    out = []
    for call in _calls(tree):
        name = _dotted(call.func)
        attr = name.split(".")[-1] if name else getattr(call.func, "attr", "")
        if attr in ("open", "fdopen") and name not in ("os.open",):
            # builtins open(path, mode) / io.open / os.fdopen(fd, mode); Path.open(mode)
            position = 1 if name in ("open", "io.open", "os.fdopen") else 0
            mode = _mode(call, position)
            target = _dotted(call.args[0]) if call.args else ""
            if mode and set(mode) & set("wx+") and target != "os.devnull":
                out.append(f"line {call.lineno}: {name or attr}() opens a file for writing in place")
        elif attr in ("write_text", "write_bytes"):
            out.append(f"line {call.lineno}: {attr}() writes in place")
        elif name == "h5py.File" and (_mode(call, 1) or "r") not in ("r",):
            out.append(f"line {call.lineno}: h5py.File opened for writing")
        else:
            index = _SAVERS.get(name)
            if index is None and attr in ("save", "savefig") and call.args:
                index = 0
            if index is None:
                continue
            target = call.args[index] if len(call.args) > index else None
            if isinstance(target, ast.Call) and _dotted(target.func) == "str" and target.args:
                target = target.args[0]  # str(tmp)
            if not (isinstance(target, ast.Name) and target.id in buffers):
                out.append(f"line {call.lineno}: {name or attr}() writes to a path, not a buffer")
    return out


def _session_calls(tree: ast.AST) -> Iterator[ast.Call]:
    for call in _calls(tree):
        if _dotted(call.func).split(".")[-1] == "InferenceSession":
            yield call


def check_session_after_validation(source: str) -> list[str]:
    """Every ``InferenceSession`` of a file path is created in a function that validated the file first.

    A session built from bytes the code serialised itself (``model.SerializeToString()``) needs no check.
    """
    out = []
    tree = ast.parse(source)
    for func in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        sessions = [c for c in _session_calls(func) if not _from_own_bytes(c)]
        if not sessions:
            continue
        checks = [c.lineno for c in _calls(func) if _dotted(c.func).split(".")[-1] in _VALIDATORS]
        for call in sessions:
            if not any(line < call.lineno for line in checks):
                out.append(f"line {call.lineno}: InferenceSession before the file is validated")
    return out


def _from_own_bytes(call: ast.Call) -> bool:
    first = call.args[0] if call.args else _keyword(call, "path_or_bytes")
    return isinstance(first, ast.Call) and _dotted(first.func).endswith("SerializeToString")


def package_sources(root: Path = PACKAGE) -> Iterator[tuple[str, str]]:
    """``(path relative to fieldcast/, source)`` of every module of the package."""
    for path in sorted(root.rglob("*.py")):
        yield path.relative_to(root).as_posix(), path.read_text(encoding="utf-8")


def session_modules(root: Path = PACKAGE) -> set[str]:
    """Modules of the package that create an ``InferenceSession``."""
    return {rel for rel, src in package_sources(root) if any(True for _ in _session_calls(ast.parse(src)))}


#: rule name -> checker, each run over every module of the package
RULES: dict[str, Callable[[str], list[str]]] = {
    "torch.load only with weights_only=True": check_torch_load,
    "np.load never with allow_pickle": check_np_load,
    "no eval/exec/compile": check_eval_exec,
    "no pickle/marshal loading": check_pickle,
    "no network modules": check_network,
    "InferenceSession only after validation": check_session_after_validation,
    "files written atomically": check_atomic_writes,
}
