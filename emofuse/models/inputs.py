"""What a model is told about each of its inputs (no torch needed to describe them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One input of a system: its name (a front-end or ``text`` / ``waveform``), its modality,
    its kind (``vector``: one array per utterance; ``sequence``: frames x dim; ``text``; ``waveform``)
    and its dimension."""

    name: str
    modality: Literal["audio", "text"]
    kind: Literal["vector", "sequence", "text", "waveform"]
    dim: int = 0


def expect_kinds(model: str, specs: Sequence[InputSpec], kinds: Sequence[set[str]]) -> None:
    """Fail early, with the model's name, when a system feeds it the wrong inputs.

    >>> expect_kinds("mlp", [InputSpec("x", "audio", "sequence", 4)], [{"vector"}])
    Traceback (most recent call last):
    ...
    ValueError: model 'mlp': input 'x' is a sequence, expected vector
    """
    if len(specs) != len(kinds):
        raise ValueError(f"model {model!r} takes {len(kinds)} input(s), the system gives {len(specs)}")
    for spec, allowed in zip(specs, kinds, strict=True):
        if spec.kind not in allowed:
            raise ValueError(
                f"model {model!r}: input {spec.name!r} is a {spec.kind}, expected {' or '.join(sorted(allowed))}"
            )
