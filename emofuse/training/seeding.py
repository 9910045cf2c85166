"""Seeding every random number generator a fold touches (as Lightning's ``seed_everything``)."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators, and tell Lightning (and its data-loader
    workers and spawned processes) the seed, through ``PL_GLOBAL_SEED`` and ``PL_SEED_WORKERS``."""
    import torch

    os.environ["PL_GLOBAL_SEED"] = str(seed)
    os.environ["PL_SEED_WORKERS"] = "1"
    random.seed(seed)
    np.random.seed(seed & 0xFFFFFFFF)
    torch.manual_seed(seed)
