"""Training: the only package that imports Lightning."""

from emofuse.training.runner import RunError
from emofuse.training.runner import Runner
from emofuse.training.runner import RunResult
from emofuse.training.runner import run_experiment

__all__ = ["RunError", "RunResult", "Runner", "run_experiment"]
