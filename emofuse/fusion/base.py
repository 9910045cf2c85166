"""The contract of fusion strategies.

Two kinds combine modalities:

- *Score fusion* (:class:`ScoreFusion`) combines the outputs of already trained member
  systems: it may fit a few parameters on the fold's dev outputs, then maps the members' test
  outputs to fused outputs. It never sees test labels.
- *Model fusion* (concatenation, attention alignment, conditioning) are models with several
  inputs, registered in :data:`emofuse.models.base.MODELS` and trained like any other model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emofuse.registry import Registry


class ScoreFusion:
    """Fit on dev outputs of the member systems, then fuse any outputs of the same members.

    ``kind`` is ``categorical`` (outputs are class posteriors, rows sum to one) or
    ``dimensional`` (outputs are predictions).
    """

    def __init__(self, config: object, *, kind: str) -> None:
        self.config = config
        self.kind = kind

    def fit(self, scores: Sequence[np.ndarray], truth: np.ndarray) -> ScoreFusion:
        return self

    def __call__(self, scores: Sequence[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict:
        """What was fitted (weights, statistics), for the run's records."""
        return {}


SCORE_FUSIONS: Registry[ScoreFusion] = Registry("score fusion")


def check_members(scores: Sequence[np.ndarray]) -> list[np.ndarray]:
    arrays = [np.asarray(s, dtype=np.float64) for s in scores]
    if len(arrays) < 2:
        raise ValueError(f"fusion needs at least two member systems, got {len(arrays)}")
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"member outputs differ in shape: {sorted(shapes)}")
    return arrays
