"""A reward for dialogue systems from emotion posteriors (IEmoNet, Heusser et al. 2019, sec. 3).

With ``P(e|h_t)`` the posterior of emotion ``e`` after dialogue turn ``t``, the change the turn
caused is ``dP(e|h_t) = P(e|h_t) - P(e|h_{t-1})`` (the derivative of the emotional state, so
that a lingering mood is not rewarded again on every turn). A mapping ``f: E -> [p, q]`` gives
each emotion its value (anger ``-1``, ...). The reward of turn ``t`` is

.. math::

    r_t = \\sum_e f(e) (dP(e|h_t) - dP^{est}(e|h_t))          \\quad (1)

    r_t = \\sum_e f(e) dP(e|h_t) - r^{est}_t                  \\quad (2, simplified)

where ``dP^est`` is the change that was expected (a system bearing bad news expects sadness;
given as expected posteriors ``P^est(e|h_t)`` or directly as expected changes) and ``r^est`` an
expected reward (for example from a regression model). Without estimates the expected terms
are zero.

>>> tracker = RewardTracker(RewardConfig(classes=("neu", "hap", "sad", "ang")))
>>> tracker.update([0.7, 0.1, 0.1, 0.1]).reward  # the first turn has no history: no change
0.0
>>> round(tracker.update([0.4, 0.1, 0.1, 0.4]).reward, 6)  # anger rose by 0.3: f(ang) = -1
-0.3
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np

from emofuse.data.labels import FOUR_CLASSES

#: The default value of each of the four classes: anger -1 (the paper's simplest case),
#: sadness -0.5, neutral 0, happiness +1.
DEFAULT_REWARD_MAP: dict[str, float] = {"neu": 0.0, "hap": 1.0, "sad": -0.5, "ang": -1.0}

Posteriors = Sequence[float] | Mapping[str, float] | np.ndarray


@dataclasses.dataclass(frozen=True)
class RewardConfig:
    """The emotions, their values ``f(e)`` and the interval ``[p, q]`` that bounds them.

    ``initial`` is ``P(e|h_0)``, the posterior before the first turn; without it the first turn
    has no history and its change is zero.
    """

    classes: tuple[str, ...] = FOUR_CLASSES
    mapping: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_REWARD_MAP))
    bounds: tuple[float, float] = (-1.0, 1.0)
    initial: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        low, high = self.bounds
        if not low < high:
            raise ValueError(f"bounds must be (p, q) with p < q, got {self.bounds}")
        if len(set(self.classes)) != len(self.classes) or not self.classes:
            raise ValueError(f"classes must be distinct and non-empty, got {self.classes}")
        missing = [c for c in self.classes if c not in self.mapping]
        if missing:
            raise ValueError(f"the reward mapping has no value for {missing}")
        outside = {c: v for c, v in self.mapping.items() if c in self.classes and not low <= v <= high}
        if outside:
            raise ValueError(f"reward values {outside} are outside the bounds [{low}, {high}]")
        if self.initial is not None:
            posteriors_vector(self.initial, self.classes)

    @property
    def values(self) -> np.ndarray:
        """``f(e)`` in class order."""
        return np.array([self.mapping[c] for c in self.classes], dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class RewardStep:
    """One turn: its posteriors, their change, the expected change and the reward."""

    turn: int
    posteriors: dict[str, float]
    delta: dict[str, float]
    expected_delta: dict[str, float]
    expected_reward: float
    reward: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def posteriors_vector(posteriors: Posteriors, classes: Sequence[str]) -> np.ndarray:
    """Posteriors as a vector in class order; a mapping must name exactly ``classes``."""
    if isinstance(posteriors, Mapping):
        unknown = set(posteriors) - set(classes)
        missing = [c for c in classes if c not in posteriors]
        if unknown or missing:
            raise ValueError(f"posteriors must name the classes {list(classes)}; unknown {sorted(unknown)}, missing {missing}")
        vector = np.array([posteriors[c] for c in classes], dtype=np.float64)
    else:
        vector = np.asarray(posteriors, dtype=np.float64).reshape(-1)
        if vector.size != len(classes):
            raise ValueError(f"expected {len(classes)} posteriors ({', '.join(classes)}), got {vector.size}")
    if not np.all(np.isfinite(vector)) or np.any(vector < -1e-9) or abs(vector.sum() - 1.0) > 1e-3:
        raise ValueError(f"posteriors must be non-negative and sum to 1, got {vector.tolist()}")
    return vector


class RewardTracker:
    """Follows one dialogue turn by turn; :meth:`update` returns the turn's :class:`RewardStep`.

    Per turn give at most one estimate: ``expected`` posteriors ``P^est(e|h_t)`` (then
    ``dP^est = P^est(e|h_t) - P(e|h_{t-1})``), ``expected_delta`` (``dP^est`` directly) for
    equation (1), or ``expected_reward`` (``r^est_t``) for equation (2).
    """

    def __init__(self, config: RewardConfig | None = None) -> None:
        self.config = config or RewardConfig()
        self._values = self.config.values
        self.reset()

    def reset(self) -> None:
        """Start a new dialogue."""
        initial = self.config.initial
        self._previous = None if initial is None else posteriors_vector(initial, self.config.classes)
        self.history: list[RewardStep] = []

    def update(
        self,
        posteriors: Posteriors,
        *,
        expected: Posteriors | None = None,
        expected_delta: Sequence[float] | Mapping[str, float] | None = None,
        expected_reward: float | None = None,
    ) -> RewardStep:
        classes = self.config.classes
        if sum(x is not None for x in (expected, expected_delta, expected_reward)) > 1:
            raise ValueError("give at most one of expected, expected_delta and expected_reward")
        current = posteriors_vector(posteriors, classes)
        previous = current if self._previous is None else self._previous
        delta = current - previous
        estimate = np.zeros(len(classes))
        if expected is not None:
            estimate = posteriors_vector(expected, classes) - previous
        elif expected_delta is not None:
            estimate = _delta_vector(expected_delta, classes)
        expected_reward = 0.0 if expected_reward is None else float(expected_reward)
        reward = float(self._values @ (delta - estimate)) - expected_reward
        step = RewardStep(
            turn=len(self.history) + 1,
            posteriors=_named(current, classes),
            delta=_named(delta, classes),
            expected_delta=_named(estimate, classes),
            expected_reward=expected_reward,
            reward=reward,
        )
        self._previous = current
        self.history.append(step)
        return step


def dialogue_rewards(
    turns: Iterable[Posteriors],
    config: RewardConfig | None = None,
    *,
    expected: Iterable[Posteriors | None] | None = None,
    expected_rewards: Iterable[float | None] | None = None,
) -> list[RewardStep]:
    """The rewards of a whole dialogue: one :class:`RewardStep` per turn.

    ``expected`` holds the expected posteriors per turn (eq. 1) and ``expected_rewards`` the
    expected reward per turn (eq. 2); ``None`` entries mean no estimate for that turn.
    """
    tracker = RewardTracker(config)
    turns = list(turns)
    posteriors_estimates = list(expected) if expected is not None else [None] * len(turns)
    reward_estimates = list(expected_rewards) if expected_rewards is not None else [None] * len(turns)
    if len(posteriors_estimates) != len(turns) or len(reward_estimates) != len(turns):
        raise ValueError("give one estimate (or None) per turn")
    return [
        tracker.update(p, expected=e, expected_reward=r)
        for p, e, r in zip(turns, posteriors_estimates, reward_estimates, strict=True)
    ]


def _delta_vector(delta: Sequence[float] | Mapping[str, float], classes: Sequence[str]) -> np.ndarray:
    if isinstance(delta, Mapping):
        missing = [c for c in classes if c not in delta]
        if missing or set(delta) - set(classes):
            raise ValueError(f"expected_delta must name the classes {list(classes)}")
        return np.array([delta[c] for c in classes], dtype=np.float64)
    vector = np.asarray(delta, dtype=np.float64).reshape(-1)
    if vector.size != len(classes):
        raise ValueError(f"expected {len(classes)} expected changes, got {vector.size}")
    return vector


def _named(vector: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    return {c: float(v) for c, v in zip(classes, vector, strict=True)}
