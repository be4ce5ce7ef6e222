"""The memory budget and the bounded JSON reader every reader relies on."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fieldcast.engine.limits import (
    BUDGET_ENV,
    BudgetError,
    check_budget,
    frame_budget,
    loads_json,
    memory_budget,
    nesting_depth,
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
