"""Recipes that cannot train are refused before training: impossible values, YAML bombs, huge files."""

from __future__ import annotations

import pytest

from fieldcast.training.config import MAX_RECIPE_BYTES, RecipeError, load_recipe, safe_yaml

BASE = """
system: smoke
data: {path: data.h5, batch_size: 2}
model: {name: unet, args: {depth: 1, base_width: 4, norm: group, groups: 2}}
train: {epochs: 1, max_steps: 2}
"""


def _write(tmp_path, text, name="r.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("train.epochs=0", "'train.epochs': must be at least 1"),
        ("train.epochs=-3", "'train.epochs': must be at least 1"),
        ("data.batch_size=0", "'data.batch_size': must be at least 1"),
        ("optim.lr=.nan", "'optim.lr'"),
        ("optim.lr=.inf", "'optim.lr'"),
        ("optim.weight_decay=.nan", "'optim.weight_decay': must be a finite number"),
    ],
)
def test_impossible_values_are_refused(tmp_path, override, words):
    with pytest.raises(RecipeError, match=words.replace("(", r"\(").replace(".", r"\.")):
        load_recipe(_write(tmp_path, BASE), [override])


def test_an_alias_bomb_is_refused_before_it_is_built(tmp_path):
    bomb = "a: &a [" + ", ".join(["lol"] * 10) + "]\n"
    for i, name in enumerate("bcdefghij"):
        bomb += f"{name}: &{name} [" + ", ".join([f"*{'abcdefghij'[i]}"] * 10) + "]\n"
    path = _write(tmp_path, bomb + "name: *j\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    text = str(info.value)
    assert "expands to more than 100,000 values" in text and len(text) < 300


def test_deep_nesting_and_huge_files_are_refused(tmp_path):
    with pytest.raises(RecipeError, match="nested more than 64 levels"):
        load_recipe(_write(tmp_path, "name: " + "[" * 20_000 + "]" * 20_000 + "\n"))
    with pytest.raises(RecipeError, match="over the 1,048,576 a recipe may have"):
        load_recipe(_write(tmp_path, "# " + "x" * MAX_RECIPE_BYTES + "\n", "big.yaml"))


def test_ordinary_yaml_with_a_few_aliases_still_loads():
    text = "base: &b {lr: 0.001}\noptim: *b\nlist: [*b, *b]\n"
    assert safe_yaml(text, "t")["list"][1] == {"lr": 0.001}
