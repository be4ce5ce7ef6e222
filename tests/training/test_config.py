import pytest
import yaml

from fieldcast.training.config import RecipeError, config_hash, load_recipe, recipe_to_dict


def test_packaged_curriculum_inherits_from_parents():
    k4 = load_recipe("smoke_k4")
    assert (k4.name, k4.parent, k4.rollout.steps, k4.train.epochs) == ("smoke_k4", "smoke_k3", 4, 100)
    assert k4.scheduler.name == "plateau" and k4.train.early_stopping_patience == 10
    assert k4.optim.grad_clip == 1.0 and k4.rollout.gamma == pytest.approx(1.10)
    assert k4.loss.mse == 1.0 and k4.loss.divergence == pytest.approx(0.001)
    assert k4.data.batch_size == 4 and k4.model.args["base_width"] == 32
    assert k4.init_from_parent  # own key, not inherited from smoke_k1 (which sets it false)
    k1 = load_recipe("smoke_k1")
    assert not k1.init_from_parent and k1.optim.lr == pytest.approx(7e-4) and k1.train.epochs == 3


def test_overrides_are_typed_and_nested():
    r = load_recipe("smoke_k2", ["optim.lr=3e-4", "model.args.depth=2", "train.rollout_horizons=[5, 7]"])
    assert r.optim.lr == pytest.approx(3e-4) and r.model.args["depth"] == 2
    assert r.model.args["base_width"] == 32  # the rest of the dict survives
    assert r.train.rollout_horizons == [5, 7]
    assert r.train.epochs == 6


def test_int_widens_to_float_but_not_bool(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("optim: {lr: 1}\n")
    assert load_recipe(p).optim.lr == 1.0
    p.write_text("optim: {lr: true}\n")
    with pytest.raises(RecipeError, match="r.yaml.*'optim.lr'.*float"):
        load_recipe(p)


@pytest.mark.parametrize(
    "text,match",
    [
        ("optim: {lrr: 1.0}\n", r"bad\.yaml: unknown key 'optim\.lrr'"),
        ("epochs: 3\n", r"bad\.yaml: unknown key 'epochs'"),
        ("train: {epochs: three}\n", r"bad\.yaml: key 'train\.epochs': expected int"),
        ("optim: {name: sgd}\n", r"bad\.yaml: key 'optim\.name': expected one of 'adam', 'adamw'"),
        ("model: {args: {widht: 3}}\n", r"bad\.yaml: unknown key 'model\.args\.widht'"),
        ("model: {args: {in_channels: 3}}\n", r"model\.args\.in_channels' is set from the data"),
        ("model: {name: transformer}\n", r"'model\.name'.*unknown model family"),
        ("[1, 2]\n", r"bad\.yaml: expected a mapping"),
        ("optim: {lr: [\n", r"bad\.yaml: not valid YAML"),
    ],
)
def test_bad_recipes_name_file_and_key(tmp_path, text, match):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(RecipeError, match=match):
        load_recipe(p)


def test_bad_override_names_set():
    with pytest.raises(RecipeError, match=r"--set: unknown key 'optim\.foo'"):
        load_recipe("smoke_k1", ["optim.foo=1"])
    with pytest.raises(RecipeError, match="key=value"):
        load_recipe("smoke_k1", ["optim.lr"])


def test_local_parent_cycle_and_relative_data_path(tmp_path):
    (tmp_path / "a.yaml").write_text("parent: b\ndata: {path: d.h5}\n")
    (tmp_path / "b.yaml").write_text("parent: a\n")
    with pytest.raises(RecipeError, match="cycle"):
        load_recipe(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("train: {epochs: 7}\n")
    a = load_recipe(tmp_path / "a.yaml")
    assert a.train.epochs == 7 and a.data.path == str(tmp_path / "d.h5") and a.name == "a"


def test_roundtrip_and_hash(tmp_path):
    r = load_recipe("smoke_k3")
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump(recipe_to_dict(r)))
    again = load_recipe(p, inherit=False)
    assert again == r and config_hash(again) == config_hash(r)
    assert config_hash(load_recipe("smoke_k3", ["train.device=cpu"])) == config_hash(r)
    assert config_hash(load_recipe("smoke_k3", ["optim.lr=1e-2"])) != config_hash(r)


def test_options_added_later_leave_older_runs_hashes_alone():
    """A finished stage is reused by hash: options added since, at their neutral values, must not change it
    (smoke_k3's hash below was recorded before rollout.warmup, loss.energy and the generative section)."""
    r = load_recipe("smoke_k3")
    assert config_hash(r) == "3a7b3051084955c8"
    assert config_hash(load_recipe("smoke_k3", ["rollout.warmup=0", "loss.energy=0"])) == config_hash(r)
    assert config_hash(load_recipe("smoke_k3", ["rollout.warmup=2"])) != config_hash(r)
    assert config_hash(load_recipe("smoke_k3", ["loss.energy=0.1"])) != config_hash(r)
    assert config_hash(load_recipe("smoke_k3", ["generative.timesteps=10"])) == config_hash(r)  # unused
