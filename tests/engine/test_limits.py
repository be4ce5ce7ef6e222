"""The memory budget and the bounded JSON reader every reader relies on."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fieldcast.engine.limits import (
    BUDGET_ENV,
    BudgetError,
    JsonFileError,
    check_budget,
    frame_budget,
    loads_json,
    loads_yaml,
    memory_budget,
    nesting_depth,
    read_json_file,
)


def test_the_budget_follows_the_setting(monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "100")
    assert memory_budget() == 100 << 20
    assert frame_budget() == max(8 << 20, (100 << 20) // 8)
    check_budget(99 << 20, "a thing")
    with pytest.raises(BudgetError, match=r"a thing needs 200.0 MiB, over the memory budget of 100.0 MiB"):
        check_budget(200 << 20, "a thing")


def test_the_budget_shrinks_under_an_address_space_limit(monkeypatch):
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30));"
        "from fieldcast.engine.limits import memory_budget; print(memory_budget())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out) == int(((2 << 30) - (768 << 20)) * 0.25)
    assert memory_budget() > int(out)  # this machine has more than 1.3 GB for a process without a cap


def test_nesting_is_measured_outside_strings():
    assert nesting_depth('{"a": [1, {"b": "[[[[[["}]}') == 3
    assert nesting_depth("[]") == 1 and nesting_depth("7") == 0


def test_deep_json_is_refused_before_parsing():
    text = "[" * 50_000 + "]" * 50_000
    with pytest.raises(ValueError, match="nested 50000 levels deep"):
        loads_json(text, "metadata x")
    assert loads_json(json.dumps({"a": [[1]]})) == {"a": [[1]]}


def test_a_json_file_is_read_within_its_bounds(tmp_path):
    good = tmp_path / "run.json"
    good.write_text(json.dumps({"status": "done", "split": [1, [2, [3]]]}))
    assert read_json_file(good) == {"status": "done", "split": [1, [2, [3]]]}

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(JsonFileError) as err:
        read_json_file(deep, "the sidecar")
    assert str(err.value) == f"{deep}: the sidecar is nested 100000 levels deep (at most 64 are read)"

    big = tmp_path / "big.json"
    big.write_text('{"pad": "' + "x" * 5000 + '"}')
    with pytest.raises(JsonFileError, match=r"big\.json: run\.json is larger than the 4\.0 KiB read"):
        read_json_file(big, "run.json", max_bytes=4096)
    assert read_json_file(big, max_bytes=8192)["pad"] == "x" * 5000

    for name, data, problem in [
        ("torn.json", b'{"a": ', "not valid JSON (Expecting value at line 1 column 7)"),
        ("latin.json", b'{"a": "\xe9"}', "not valid JSON (not UTF-8 text)"),
    ]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(JsonFileError) as err:
            read_json_file(tmp_path / name)
        assert err.value.problem == f"the file is {problem}"


def test_a_json_line_longer_than_allowed_is_refused():
    with pytest.raises(ValueError, match=r"a record is 2\.0 KiB, more than the 1\.0 KiB read"):
        loads_json('{"a": "' + "x" * 2040 + '"}', "a record", max_bytes=1024)


def test_yaml_is_bounded_in_depth_and_in_alias_expansion():
    assert loads_yaml("a: [1, {b: 2}]") == {"a": [1, {"b": 2}]}
    with pytest.raises(ValueError, match="nested more than 64 levels deep"):
        loads_yaml("[" * 100 + "]" * 100)
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    with pytest.raises(ValueError, match="expands to more than 100,000 values"):
        loads_yaml("\n".join(bomb))
