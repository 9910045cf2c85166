"""A :class:`~emofuse.tasks.base.Task` from an experiment's task config."""

from __future__ import annotations

from collections.abc import Sequence

from emofuse.experiment import TaskConfig
from emofuse.tasks.base import Task


def build_task(config: TaskConfig, classes: Sequence[str] | None = None, *,
               loss_weights: Sequence[float] | None = None) -> Task:
    """The task of ``config``: ``classes`` name the categories (categorical); ``loss_weights``
    replace the config's per-target weights (a system's own ``loss_weights``)."""
    if config.type == "dimensional":
        from emofuse.tasks.dimensional import DimensionalTask

        return DimensionalTask(config.targets, loss=config.loss, weights=loss_weights or config.loss_weights)
    if loss_weights is not None:
        raise ValueError("loss_weights apply to dimensional tasks")
    if not classes:
        raise ValueError("a categorical task needs its class names")
    from emofuse.tasks.categorical import CategoricalTask

    return CategoricalTask(classes, class_weighting=config.class_weighting, label_smoothing=config.label_smoothing,
                           selection_metric=config.selection_metric)
