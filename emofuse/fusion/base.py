"""The contract of score-fusion strategies.

Two kinds of fusion combine modalities:

- *Score fusion* (:class:`ScoreFusion`) combines the outputs of already trained member
  systems: it may fit a few parameters on the fold's dev outputs (never test labels), then
  maps the members' outputs to fused outputs. What it fitted is a dict of arrays
  (:meth:`ScoreFusion.state`), saved with the system like any weights and restored with
  :meth:`ScoreFusion.load_state`. When only some members have an output for an utterance (no
  words from ASR, say), :meth:`ScoreFusion.restrict` gives the fusion of those members.
- *Model fusion* (concatenation, attention alignment, conditioning, the classification
  block) are models with several inputs, registered in :data:`emofuse.components.MODELS`
  and trained like any other model.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Literal

import numpy as np


class ScoreFusion:
    """Fit on dev outputs of the member systems, then fuse any outputs of the same members.

    ``task_type`` is ``categorical`` (outputs are class posteriors, rows sum to one) or
    ``dimensional`` (outputs are predicted ratings). Subclasses implement ``__call__`` and, when
    they fit anything, ``fit``, ``state``, ``load_state`` and ``restrict``.
    """

    def __init__(self, config: object, *, task_type: Literal["categorical", "dimensional"]) -> None:
        self.config = config
        self.task_type = task_type

    def fit(self, scores: Sequence[np.ndarray], truth: np.ndarray) -> ScoreFusion:
        """Fit on the members' dev ``scores`` and the dev ``truth`` (class indices or ratings)."""
        return self

    def __call__(self, scores: Sequence[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray]:
        """What was fitted, as named arrays (empty when nothing is fitted)."""
        return {}

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore what :meth:`state` returned."""
        if state:
            raise ValueError(f"{type(self).__name__} fits nothing, but was given {sorted(state)}")

    def restrict(self, members: Sequence[int]) -> ScoreFusion:
        """The fusion of the members at positions ``members`` only (at least two)."""
        return self


def check_members(scores: Sequence[np.ndarray]) -> list[np.ndarray]:
    arrays = [np.asarray(s, dtype=np.float64) for s in scores]
    if len(arrays) < 2:
        raise ValueError(f"fusion needs at least two member systems, got {len(arrays)}")
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"member outputs differ in shape: {sorted(shapes)}")
    return arrays
