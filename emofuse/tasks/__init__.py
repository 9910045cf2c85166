"""Tasks: what is predicted, with which loss, scored how."""

from emofuse.tasks.categorical import CategoricalTask
from emofuse.tasks.dimensional import DimensionalTask
from emofuse.tasks.dimensional import ccc_loss

Task = CategoricalTask | DimensionalTask

__all__ = ["CategoricalTask", "DimensionalTask", "Task", "ccc_loss"]
