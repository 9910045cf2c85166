import numpy as np
import pytest
from scipy.special import softmax

from emofuse.fusion.late import LateFusion
from emofuse.fusion.late import LateFusionConfig
from emofuse.fusion.late import weight_grid

SPEECH = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]])
TEXT = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.5, 0.25, 0.25]])


def test_average_is_the_mean_of_posteriors():
    fused = LateFusion(LateFusionConfig(method="average"), task_type="categorical")([SPEECH, TEXT])
    assert np.allclose(fused, (SPEECH + TEXT) / 2)


def test_weighted_log_softmax_by_hand():
    fusion = LateFusion(LateFusionConfig(method="weighted"), task_type="categorical")
    fusion.weights = (0.94, 0.06)
    expected = softmax(0.94 * np.log(SPEECH) + 0.06 * np.log(TEXT), axis=1)
    assert np.allclose(fusion([SPEECH, TEXT]), expected)


def test_weight_search_picks_the_informative_member():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=60)
    good = np.full((60, 3), 0.1)
    good[np.arange(60), truth] = 0.8
    noise = rng.dirichlet(np.ones(3), size=60)
    fusion = LateFusion(LateFusionConfig(method="weighted", grid_step=0.1), task_type="categorical").fit([noise, good], truth)
    assert fusion.weights[1] > 0.5
    assert np.mean(fusion([noise, good]).argmax(axis=1) == truth) == 1.0


def test_weight_search_breaks_a_plateau_of_equal_ua_by_cross_entropy():
    # Each member is confidently right on two items and mildly wrong on the other two: every speech
    # weight in about (0.16, 0.84) gets all four right. The first weight of that plateau on the grid
    # (0.16) trusts the text member more than the dev data say; the dev cross-entropy is lowest at 0.5.
    truth = np.array([0, 1, 0, 1])
    speech = np.array([[0.9, 0.1], [0.1, 0.9], [0.4, 0.6], [0.6, 0.4]])
    text = np.array([[0.4, 0.6], [0.6, 0.4], [0.9, 0.1], [0.1, 0.9]])
    fusion = LateFusion(LateFusionConfig(method="weighted"), task_type="categorical").fit([speech, text], truth)
    assert fusion.weights[0] == pytest.approx(0.5)
    assert np.all(fusion([speech, text]).argmax(axis=1) == truth)


def test_znorm_uses_dev_statistics():
    fusion = LateFusion(LateFusionConfig(method="znorm"), task_type="categorical").fit([SPEECH, TEXT], np.array([0, 1, 2]))
    logs = [np.log(SPEECH) - np.log(SPEECH).max(axis=1, keepdims=True), np.log(TEXT)]
    from scipy.special import log_softmax

    logs = [log_softmax(np.log(m), axis=1) for m in (SPEECH, TEXT)]
    z = [(s - s.mean()) / s.std() for s in logs]
    assert np.allclose(fusion([SPEECH, TEXT]), softmax((z[0] + z[1]) / 2, axis=1), atol=1e-6)


def test_dimensional_weighted():
    truth = np.array([[0.1], [0.5], [-0.3], [0.9]])
    fusion = LateFusion(LateFusionConfig(method="weighted", grid_step=0.5), task_type="dimensional").fit(
        [truth + 0.01 * np.array([[1], [-1], [1], [-1]]), np.zeros_like(truth) + np.array([[0.3], [0.1], [0.2], [0.0]])], truth)
    assert fusion.weights == (1.0, 0.0)


def test_errors():
    with pytest.raises(ValueError, match="at least two"):
        LateFusion(LateFusionConfig(), task_type="categorical")([SPEECH])
    with pytest.raises(ValueError, match="no dev set"):
        LateFusion(LateFusionConfig(method="weighted"), task_type="categorical").fit([SPEECH, TEXT], np.array([]))
    assert len(weight_grid(3, 0.05)) == 231


def _noisy_members(truth: np.ndarray, accuracies: list[float], seed: int = 0) -> list[np.ndarray]:
    """Posteriors that put 0.7 on the true class with the given probability, else on a random wrong one."""
    rng = np.random.default_rng(seed)
    members = []
    for accuracy in accuracies:
        predicted = np.where(rng.random(len(truth)) < accuracy, truth, (truth + rng.integers(1, 3, len(truth))) % 3)
        scores = np.full((len(truth), 3), 0.15)
        scores[np.arange(len(truth)), predicted] = 0.7
        members.append(scores)
    return members


def test_select_drops_useless_members_and_keeps_the_best_ensemble():
    truth = np.tile(np.arange(3), 40)
    noise = np.random.default_rng(1).dirichlet(np.ones(3), size=len(truth))
    members = [noise, *_noisy_members(truth, [0.7, 0.7, 0.7])]
    fusion = LateFusion(LateFusionConfig(method="select"), task_type="categorical").fit(members, truth)
    assert fusion.weights[0] == 0.0 and sum(fusion.weights) == pytest.approx(1.0)
    # three independent 70 % members vote better than any one of them, so the selection keeps several
    assert sum(w > 0 for w in fusion.weights[1:]) >= 2
    fused = fusion(members)
    assert np.allclose(fused, sum(w * m for w, m in zip(fusion.weights, members, strict=True)))
    best_single = max(np.mean(m.argmax(axis=1) == truth) for m in members)
    assert np.mean(fused.argmax(axis=1) == truth) > best_single


def test_select_by_hand_on_a_tie():
    # both members alone are perfect on dev: the tie goes to the lower cross-entropy (the surer member)
    truth = np.array([0, 1])
    sure = np.array([[0.9, 0.1], [0.1, 0.9]])
    unsure = np.array([[0.6, 0.4], [0.4, 0.6]])
    fusion = LateFusion(LateFusionConfig(method="select", rounds=1), task_type="categorical").fit([unsure, sure], truth)
    assert fusion.weights == (0.0, 1.0)
    assert fusion.state()["weights"].tolist() == [0.0, 1.0]


def test_select_dimensional_and_errors():
    truth = np.array([[0.1], [0.5], [-0.3], [0.9]])
    good, bad = truth + 0.01, -truth
    fusion = LateFusion(LateFusionConfig(method="select"), task_type="dimensional").fit([bad, good], truth)
    assert fusion.weights == (0.0, 1.0)
    with pytest.raises(RuntimeError, match="not fitted"):
        LateFusion(LateFusionConfig(method="select"), task_type="categorical")([SPEECH, TEXT])
    with pytest.raises(ValueError, match="no dev set"):
        LateFusion(LateFusionConfig(method="select"), task_type="categorical").fit([SPEECH, TEXT], np.array([]))
    with pytest.raises(ValueError, match="rounds"):
        LateFusionConfig(method="select", rounds=0)


def test_fitted_state_round_trips_and_restricts_to_present_members():
    rng = np.random.default_rng(1)
    members = [rng.dirichlet(np.ones(3), size=20) for _ in range(3)]
    truth = rng.integers(0, 3, 20)
    for method in ("weighted", "znorm", "select"):
        fitted = LateFusion(LateFusionConfig(method=method, grid_step=0.1), task_type="categorical").fit(members, truth)
        restored = LateFusion(LateFusionConfig(method=method, grid_step=0.1), task_type="categorical")
        restored.load_state(fitted.state())
        np.testing.assert_allclose(restored(members), fitted(members))
    weighted = LateFusion(LateFusionConfig(method="weighted"), task_type="categorical")
    weighted.load_state({"weights": np.array([0.5, 0.3, 0.2])})
    assert weighted.restrict([1, 2]).weights == pytest.approx((0.6, 0.4)) and weighted.weights == (0.5, 0.3, 0.2)
    with pytest.raises(ValueError, match="no fitted parameters"):
        weighted.load_state({"bias": np.zeros(2)})
