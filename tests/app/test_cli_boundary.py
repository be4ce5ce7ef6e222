"""Whatever escapes a command becomes one line naming its input; internal faults are logged in full."""

from __future__ import annotations

import pytest

from fieldcast.app import cli
from fieldcast.app.cli_errors import EXIT_INPUT, EXIT_INTERNAL, log_path, naming


def _run_raising(monkeypatch, capsys, exc: BaseException, argv: list[str]) -> tuple[int, list[str]]:
    module = cli._load_command(argv[0])

    def boom(args):
        raise exc

    monkeypatch.setattr(module, "run", boom)
    code = cli.main(argv)
    return code, [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (MemoryError(), "needs more memory than this machine can give"),
        (RecursionError("maximum recursion depth exceeded"), "nested too deeply to read"),
    ],
)
def test_memory_and_recursion_errors_name_the_input(monkeypatch, capsys, tmp_path, exc, words):
    data = tmp_path / "crafted.h5"
    code, err = _run_raising(monkeypatch, capsys, exc, ["info", str(data)])
    assert code == EXIT_INPUT and len(err) == 1
    assert err[0].startswith(f"fieldcast info: {data}: ") and words in err[0]
    assert "Traceback" not in err[0] and "recursion depth" not in err[0]


def test_an_internal_fault_keeps_its_traceback_in_the_log(monkeypatch, capsys, tmp_path):
    model = tmp_path / "m.onnx"
    code, err = _run_raising(monkeypatch, capsys, TypeError("unsupported operand"), ["bench", str(model)])
    assert code == EXIT_INTERNAL and len(err) == 1
    assert "internal error on" in err[0] and str(log_path()) in err[0]
    logged = log_path().read_text()
    assert "Traceback (most recent call last)" in logged and "TypeError: unsupported operand" in logged


def test_a_one_line_error_a_command_missed_is_passed_through(monkeypatch, capsys, tmp_path):
    from fieldcast.engine.data import DatasetError

    data = tmp_path / "d.h5"
    code, err = _run_raising(monkeypatch, capsys, DatasetError(data, "a problem"), ["info", str(data)])
    assert code == EXIT_INPUT and err == [f"fieldcast info: {data}: a problem"]


def test_messages_always_name_a_file():
    assert naming("could not broadcast", "/m/model.onnx") == "/m/model.onnx: could not broadcast"
    assert naming("model.onnx: bad", "/m/model.onnx") == "model.onnx: bad"
    assert naming("x\ny", "a", "b") == "a: x y"
