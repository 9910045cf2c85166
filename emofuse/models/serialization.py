"""Rebuilding a trained system from its self-describing files: ``model.json`` + ``model.safetensors``.

``model.json`` names the model component, the input specs, the feature components and the
outputs; the weights are a safetensors state dict of :class:`SystemModel`. Nothing is unpickled.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Sequence
from typing import Any

import torch
from safetensors.torch import load_file

from emofuse.config import Component
from emofuse.config import parse
from emofuse.models.base import MODELS
from emofuse.models.base import ClassicModel
from emofuse.models.base import InputSpec
from emofuse.models.standardize import Standardizer
from emofuse.models.standardize import SystemModel


class ModelFileError(ValueError):
    """A model directory that is incomplete or inconsistent."""


def component_from_dict(registry: Any, data: dict[str, Any]) -> Component:
    """The inverse of :func:`emofuse.config.to_dict` for a registered component."""
    data = dict(data)
    name = data.pop("name")
    return Component(name, parse(registry.get(name).config_class, data))


def assemble_system_model(
    model: Component,
    inputs: Sequence[InputSpec],
    output_size: int,
    *,
    normalization: str,
    members: Sequence[SystemModel] | None = None,
) -> SystemModel:
    """An untrained :class:`SystemModel`: the model with a standardiser per vector or frame input
    when it was trained with ``normalization: global``."""
    extra = {"members": list(members)} if members else {}
    built = MODELS.build(model.name, model.config, list(inputs), output_size, **extra)
    if isinstance(built, ClassicModel):
        raise ModelFileError(f"{model.name} is a classic model; it has no torch weights to load")
    standardizers = [
        Standardizer(spec.dim) if normalization == "global" and spec.kind in {"vector", "sequence"} else None
        for spec in inputs
    ]
    return SystemModel(built, standardizers)


def build_system_model(description: dict[str, Any], *, members: list[SystemModel] | None = None) -> SystemModel:
    """An untrained :class:`SystemModel` with the architecture ``description`` (``model.json``)
    records; members of a classification block are rebuilt from their own recorded descriptions."""
    if members is None and description.get("members"):
        members = [build_system_model(member) for member in description["members"]]
    return assemble_system_model(
        component_from_dict(MODELS, description["model"]),
        [InputSpec(**spec) for spec in description["inputs"]],
        len(description["outputs"]),
        normalization=description.get("normalization", "none"),
        members=members,
    )


def load_system_model(directory: str | pathlib.Path, *, members: list[SystemModel] | None = None) -> tuple[SystemModel, dict[str, Any]]:
    """The trained system of a fold directory (or an exported system directory), in eval mode."""
    directory = pathlib.Path(directory)
    config_path, weights_path = directory / "model.json", directory / "model.safetensors"
    for path in (config_path, weights_path):
        if not path.is_file():
            raise ModelFileError(f"missing {path}")
    description = json.loads(config_path.read_text())
    system = build_system_model(description, members=members)
    state = load_file(str(weights_path))
    missing, unexpected = system.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelFileError(f"{weights_path}: weights do not match model.json (missing {missing[:3]}, unexpected {unexpected[:3]})")
    system.eval()
    return system, description


def save_system_model(system: torch.nn.Module, directory: str | pathlib.Path) -> pathlib.Path:
    from safetensors.torch import save_file

    path = pathlib.Path(directory) / "model.safetensors"
    save_file({k: v.detach().cpu().contiguous() for k, v in system.state_dict().items()}, str(path))
    return path
