"""Tasks: what is predicted, with which loss, scored how (:class:`Task`)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "base": [
        "Task",
    ],
    "build": [
        "build_task",
    ],
    "categorical": [
        "CategoricalTask",
    ],
    "dimensional": [
        "DimensionalTask",
        "ccc_loss",
    ],
})
