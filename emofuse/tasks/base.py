"""The task contract: what a system predicts, the loss it is trained with and how it is scored.

The runner, the Lightning loop and the systems use a task only through :class:`Task`, never by
asking which kind it is. ``build_task`` makes one from the experiment's task config and the
class names (categorical) found in the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Protocol

import numpy as np

from emofuse.data.manifest import Utterance
from emofuse.predictions import Predictions
from emofuse.predictions import TaskType

if TYPE_CHECKING:
    import torch


class Task(Protocol):
    """What every task provides."""

    #: ``categorical`` or ``dimensional``.
    type: TaskType
    #: Class names or rating names, in output order.
    outputs: tuple[str, ...]
    #: The dev metric that model selection maximises (``UA`` or ``CCC_mean``).
    selection_metric: str

    def truth(self, utterances: Sequence[Utterance]) -> np.ndarray:
        """Numeric targets: ``(n,)`` class indices or ``(n, targets)`` ratings."""
        ...

    def loss_weights(self, truth: np.ndarray) -> np.ndarray:
        """Per-class (categorical) or per-target (dimensional) loss weights for training targets."""
        ...

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The training loss of ``(batch, outputs)`` model outputs."""
        ...

    def scores(self, outputs: np.ndarray) -> np.ndarray:
        """Scores from model outputs: posteriors (softmax of logits) or the ratings themselves."""
        ...

    def predictions(self, ids: Sequence[str], outputs: np.ndarray, utterances: Sequence[Utterance] | None = None,
                    split: Sequence[str] | None = None) -> Predictions:
        """:class:`Predictions` of scores ``outputs`` (with the truth of ``utterances`` when given)."""
        ...
