"""The IEmoNet dialogue reward on hand-computed values."""

import pytest

from emofuse.reward import DEFAULT_REWARD_MAP
from emofuse.reward import RewardConfig
from emofuse.reward import RewardTracker
from emofuse.reward import dialogue_rewards

CLASSES = ("neu", "hap", "sad", "ang")
F = {"neu": 0.0, "hap": 1.0, "sad": -0.5, "ang": -1.0}


def test_delta_and_reward_equation_1_without_estimate():
    # turn 1 -> 2: dP = (-0.2, +0.3, 0.0, -0.1); r = 0 * -0.2 + 1 * 0.3 - 0.5 * 0 - 1 * -0.1 = 0.4
    steps = dialogue_rewards([[0.5, 0.2, 0.1, 0.2], [0.3, 0.5, 0.1, 0.1]], RewardConfig(CLASSES, F))
    assert steps[0].reward == 0.0 and steps[0].delta == {c: 0.0 for c in CLASSES}
    assert steps[1].delta == pytest.approx({"neu": -0.2, "hap": 0.3, "sad": 0.0, "ang": -0.1})
    assert steps[1].reward == pytest.approx(0.4)
    assert [s.turn for s in steps] == [1, 2]


def test_initial_posterior_gives_the_first_turn_a_change():
    config = RewardConfig(CLASSES, F, initial={"neu": 0.25, "hap": 0.25, "sad": 0.25, "ang": 0.25})
    step = RewardTracker(config).update({"neu": 0.1, "hap": 0.1, "sad": 0.2, "ang": 0.6})
    # dP = (-0.15, -0.15, -0.05, +0.35); r = -0.15 + 0.025 - 0.35 = -0.475
    assert step.reward == pytest.approx(-0.475)


def test_expected_posteriors_equation_1():
    tracker = RewardTracker(RewardConfig(CLASSES, F))
    tracker.update([0.6, 0.2, 0.1, 0.1])
    # bad news: the system expected sadness to rise to 0.4 (P^est), it rose to 0.5
    step = tracker.update([0.3, 0.1, 0.5, 0.1], expected=[0.4, 0.1, 0.4, 0.1])
    # dP = (-0.3, -0.1, 0.4, 0); dP_est = (-0.2, -0.1, 0.3, 0); dP - dP_est = (-0.1, 0, 0.1, 0)
    assert step.expected_delta == pytest.approx({"neu": -0.2, "hap": -0.1, "sad": 0.3, "ang": 0.0})
    assert step.reward == pytest.approx(-0.05)
    # an anticipated reaction costs nothing: P = P^est gives r = 0
    assert tracker.update([0.2, 0.2, 0.3, 0.3], expected=[0.2, 0.2, 0.3, 0.3]).reward == pytest.approx(0.0)


def test_expected_delta_and_simplified_equation_2_agree():
    turns = [[0.7, 0.1, 0.1, 0.1], [0.2, 0.6, 0.1, 0.1], [0.2, 0.2, 0.1, 0.5]]
    # raw rewards: turn 2: hap +0.5 -> 0.5; turn 3: hap -0.4, ang +0.4 -> -0.4 - 0.4 = -0.8
    raw = [s.reward for s in dialogue_rewards(turns, RewardConfig(CLASSES, F))]
    assert raw == pytest.approx([0.0, 0.5, -0.8])
    simplified = dialogue_rewards(turns, RewardConfig(CLASSES, F), expected_rewards=[None, 0.2, -0.3])
    assert [s.reward for s in simplified] == pytest.approx([0.0, 0.3, -0.5])
    tracker = RewardTracker(RewardConfig(CLASSES, F))
    tracker.update(turns[0])
    # sum_e f(e) * dP_est(e) = 1 * 0.2 = 0.2 = r_est: equations (1) and (2) agree
    step = tracker.update(turns[1], expected_delta={"neu": -0.2, "hap": 0.2, "sad": 0.0, "ang": 0.0})
    assert step.reward == pytest.approx(simplified[1].reward)


def test_reset_and_history():
    tracker = RewardTracker()
    tracker.update([1, 0, 0, 0])
    tracker.update([0, 0, 0, 1])
    assert len(tracker.history) == 2 and tracker.history[-1].reward == pytest.approx(-1.0)
    tracker.reset()
    assert tracker.history == [] and tracker.update([0, 0, 0, 1]).reward == 0.0


def test_default_mapping_is_bounded_and_covers_the_four_classes():
    assert set(DEFAULT_REWARD_MAP) == set(CLASSES)
    assert all(-1 <= v <= 1 for v in DEFAULT_REWARD_MAP.values()) and DEFAULT_REWARD_MAP["ang"] == -1


def test_invalid_configs_and_inputs():
    with pytest.raises(ValueError, match="outside the bounds"):
        RewardConfig(CLASSES, {**F, "hap": 2.0})
    with pytest.raises(ValueError, match="no value for"):
        RewardConfig(CLASSES, {"neu": 0.0})
    custom = RewardConfig(("pos", "neg"), {"pos": 5.0, "neg": -5.0}, bounds=(-5, 5))
    assert RewardTracker(custom).update([0.5, 0.5]).reward == 0.0
    tracker = RewardTracker()
    with pytest.raises(ValueError, match="sum to 1"):
        tracker.update([0.5, 0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="expected 4 posteriors"):
        tracker.update([0.5, 0.5])
    with pytest.raises(ValueError, match="at most one"):
        tracker.update([1, 0, 0, 0], expected=[1, 0, 0, 0], expected_reward=0.1)
    with pytest.raises(ValueError, match="must name the classes"):
        tracker.update({"neu": 1.0})


def test_docstring_examples():
    import doctest

    import emofuse.reward

    assert doctest.testmod(emofuse.reward).failed == 0
