"""Layered YAML configs with strict validation."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from dynaflip.config import ConfigError, dump_yaml, load_config, to_dict


@dataclass
class Optim:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass
class Recipe:
    name: str = "tiny"
    steps: int = 10
    mode: Literal["a", "b"] = "a"
    tags: list[str] = field(default_factory=list)
    resume: str | None = None
    optim: Optim = field(default_factory=Optim)


def write(path, text):
    path.write_text(text)
    return path


def test_files_layer_and_overrides_win(tmp_path):
    write(tmp_path / "base.yaml", "steps: 5\noptim:\n  lr: 0.001\n")
    child = write(tmp_path / "child.yaml", "_base_: base.yaml\nname: child\noptim:\n  betas: [0.8, 0.9]\n")
    config = load_config(Recipe, files=[child], overrides=["optim.lr=3e-4", "tags=[x, y]", "mode=b"])
    assert config == Recipe(name="child", steps=5, mode="b", tags=["x", "y"], optim=Optim(lr=3e-4, betas=(0.8, 0.9)))


def test_int_is_accepted_for_float_and_null_for_optional(tmp_path):
    config = load_config(Recipe, overrides=["optim.lr=1", "resume=null"])
    assert config.optim.lr == 1.0 and isinstance(config.optim.lr, float) and config.resume is None


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=1", "unknown config key 'optim.lrr' (did you mean lr?)"),
        ("steps=ten", "'steps': expected an integer, got str 'ten'"),
        ("steps=1.5", "'steps': expected an integer, got float 1.5"),
        ("mode=c", "'mode': expected one of ['a', 'b'], got str 'c'"),
        ("optim.betas=[1]", "'optim.betas': expected 2 items"),
        ("tags=oops", "'tags': expected a list"),
        ("optim=3", "'optim': expected a mapping for Optim"),
        ("novalue", "expected key=value"),
    ],
)
def test_wrong_keys_and_types_name_the_key(override, message):
    with pytest.raises(ConfigError) as error:
        load_config(Recipe, overrides=[override])
    assert message in str(error.value)


def test_bad_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.yaml: config file not found"):
        load_config(Recipe, files=[tmp_path / "missing.yaml"])
    bad = write(tmp_path / "bad.yaml", "steps: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config(Recipe, files=[bad])
    listing = write(tmp_path / "list.yaml", "- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        load_config(Recipe, files=[listing])


def test_dump_and_reload_round_trip(tmp_path):
    config = Recipe(name="x", tags=["a"], optim=Optim(lr=0.5))
    dump_yaml(config, tmp_path / "out.yaml")
    assert load_config(Recipe, files=[tmp_path / "out.yaml"]) == config
    assert to_dict(config)["optim"]["betas"] == [0.9, 0.999]
