import dataclasses

import pytest

from emofuse.config import Component
from emofuse.config import ConfigError
from emofuse.config import apply_overrides
from emofuse.config import component_field
from emofuse.config import config_hash
from emofuse.config import parse
from emofuse.config import to_dict
from emofuse.registry import Registry
from emofuse.registry import RegistryError
from emofuse.registry import builds


@dataclasses.dataclass(frozen=True)
class CircleConfig:
    radius: float = 1.0


@builds(CircleConfig)
def build_circle(config):
    return ("circle", config.radius)


SHAPES = Registry("shape")
SHAPES.add("circle", build_circle)


@dataclasses.dataclass(frozen=True)
class Inner:
    sizes: tuple[int, ...] = (1, 2)
    mode: str | None = None


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner = dataclasses.field(default_factory=Inner)
    shape: Component = component_field(SHAPES, default="circle")
    optional_shape: Component | None = component_field(SHAPES, default=None)
    flag: bool = False
    rate: float = 0.1


def test_parse_nested_and_components():
    config = parse(Outer, {"name": "x", "inner": {"sizes": [3, 4]}, "shape": {"name": "circle", "radius": 2}, "rate": "1e-3"})
    assert config.inner.sizes == (3, 4)
    assert config.shape == Component("circle", CircleConfig(radius=2.0))
    assert config.optional_shape is None
    assert config.rate == pytest.approx(1e-3)
    assert SHAPES.build("circle", config.shape.config) == ("circle", 2.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "inner": {"size": [1]}}, "inner.size: unknown key"),
        ({"name": "x", "shape": {"name": "square"}}, "shape.name: unknown shape 'square'"),
        ({"name": "x", "shape": {"name": "circle", "diameter": 1}}, "shape.diameter: unknown key"),
        ({"name": "x", "flag": "yes"}, "flag: expected true or false"),
        ({"name": "x", "inner": {"sizes": "12"}}, "inner.sizes: expected a list"),
        ({}, "name: required key is missing"),
        ({"name": "x", "rate": "fast"}, "rate: expected a number"),
    ],
)
def test_errors_name_the_key_path(data, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(Outer, data)


def test_round_trip_and_hash():
    config = parse(Outer, {"name": "x", "shape": {"name": "circle", "radius": 3}})
    assert parse(Outer, to_dict(config)) == config
    assert config_hash(config) == config_hash(parse(Outer, to_dict(config)))
    assert config_hash(config) != config_hash(dataclasses.replace(config, rate=0.2))


def test_overrides():
    data = apply_overrides({"a": {"b": 1}}, ["a.b=2", "a.c=[1, 2]", "d.e=null", "f=1e-3"])
    assert data == {"a": {"b": 2, "c": [1, 2]}, "d": {"e": None}, "f": "1e-3"}
    with pytest.raises(ConfigError, match="key.path=value"):
        apply_overrides({}, ["novalue"])
    listed = apply_overrides({"b": [{"x": 1}, {"x": 2}]}, ["b.1.x=5", "b.0={y: 3}"])
    assert listed == {"b": [{"y": 3}, {"x": 5}]}
    with pytest.raises(ConfigError, match="'2' is not an index of a list of 2"):
        apply_overrides({"b": [1, 2]}, ["b.2=3"])


def test_registry_errors():
    with pytest.raises(RegistryError, match="available: circle"):
        SHAPES.get("triangle")
    with pytest.raises(ValueError, match="already registered"):
        SHAPES.add("circle", build_circle)
    broken = Registry("shape", {"square": "emofuse.no_such_module:build", "oval": "emofuse.config:no_such_builder",
                                "plain": "emofuse.config:parse"})
    with pytest.raises(RegistryError, match="module 'emofuse.no_such_module' does not exist"):
        broken.get("square")
    with pytest.raises(RegistryError, match="has no 'no_such_builder'"):
        broken.get("oval")
    with pytest.raises(RegistryError, match="no config_class"):
        broken.get("plain")
    with pytest.raises(ValueError, match="not 'module:object'"):
        broken.add("bad", "emofuse.config")


def test_registry_imports_a_component_on_first_use_only(monkeypatch):
    import sys

    registry = Registry("example", {"shape": "lazy_component:build_shape"})
    monkeypatch.delitem(sys.modules, "lazy_component", raising=False)
    assert registry.names() == ["shape"] and "lazy_component" not in sys.modules
    assert registry.build("shape", registry.get("shape").config_class(sides=4)) == "4-gon"
    assert "lazy_component" in sys.modules


def test_a_light_config_class_must_be_the_one_the_builder_uses(tmp_path, monkeypatch):
    (tmp_path / "light_shape.py").write_text(
        "import dataclasses\n@dataclasses.dataclass(frozen=True)\nclass ShapeConfig:\n    sides: int = 3\n")
    (tmp_path / "heavy_shape.py").write_text(
        "import dataclasses\nfrom emofuse.registry import builds\nfrom light_shape import ShapeConfig\n"
        "@dataclasses.dataclass(frozen=True)\nclass OtherConfig:\n    sides: int = 3\n"
        "@builds(ShapeConfig)\ndef build(config):\n    return config.sides\n"
        "@builds(OtherConfig)\ndef build_other(config):\n    return config.sides\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("shape", {"good": "heavy_shape:build", "bad": "heavy_shape:build_other"},
                        configs={"good": "light_shape:ShapeConfig", "bad": "light_shape:ShapeConfig"})
    assert registry.config_class("good").__name__ == "ShapeConfig" and "heavy_shape" not in __import__("sys").modules
    assert registry.build("good", registry.config_class("good")(sides=5)) == 5
    with pytest.raises(RegistryError, match="built from OtherConfig, not the registered light_shape:ShapeConfig"):
        registry.get("bad")
    with pytest.raises(ValueError, match="unregistered"):
        Registry("shape", {}, configs={"ghost": "light_shape:ShapeConfig"})


def test_model_and_front_end_keys_are_checked_before_torch_loads(tmp_path):
    import subprocess
    import sys
    import textwrap

    config = tmp_path / "typo.yaml"
    config.write_text(textwrap.dedent("""
        name: typo
        data: {corpus: {name: manifest, path: manifest.csv}}
        features:
          wav2vec: {name: ssl, layer: last}
          minilm: {name: text_embedding}
        systems:
          head: {inputs: [wav2vec, minilm], model: {name: concat, branches: [pooling, {name: mlp, hiden_sizes: [8]}]}}
    """))
    code = ("import sys\nfrom emofuse.experiment import load_experiment\n"
            f"try:\n    load_experiment({str(config)!r})\nexcept Exception as error:\n    print(error)\n"
            "print('torch loaded:', 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "branches[1].hiden_sizes: unknown key" in out
    assert "torch loaded: False" in out


def test_every_registered_component_imports_and_has_a_config():
    from emofuse import components

    for registry in (components.CORPORA, components.PROTOCOLS, components.FEATURES, components.MODELS,
                     components.SCORE_FUSIONS, components.TRANSCRIBERS):
        for name in registry.names():
            entry = registry.get(name)
            assert dataclasses.is_dataclass(entry.config_class), (registry.kind, name)
            assert entry.config_class.__dataclass_params__.frozen, (registry.kind, name)  # configs are immutable
