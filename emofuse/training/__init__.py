"""Training: cross-validated runs of systems (the Lightning loop is imported only to train)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "evaluate": [
        "EvaluationError",
        "evaluate_run",
    ],
    "runner": [
        "RunError",
        "RunInterrupted",
        "Runner",
        "run_experiment",
    ],
})
