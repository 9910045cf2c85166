"""Analyses and statistics checked against values computed by hand on tiny prediction tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from emofuse.evaluation import analyses
from emofuse.evaluation import stats

# Statistics ------------------------------------------------------------------------------


def test_independent_ttest_is_students_formula():
    a, b = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]
    # means 2 and 5, both variances 1: pooled s = 1, t = -3 / sqrt(1/3 + 1/3), 4 degrees of freedom
    t = -3.0 / math.sqrt(2.0 / 3.0)
    result = stats.independent_ttest(a, b)
    assert result.statistic == pytest.approx(t)
    assert result.dof == pytest.approx(4.0)
    assert result.p_value == pytest.approx(2 * scipy.stats.t.sf(abs(t), 4))
    assert result.p_value == pytest.approx(0.021311641128756, abs=1e-9)
    assert result.n == (3, 3)
    assert result.significant(0.05) and not result.significant(0.01)


def test_independent_ttest_welch_formula():
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 6.0, 10.0]
    va, vb = np.var(a, ddof=1), np.var(b, ddof=1)  # 5/3 and 16
    se2 = va / 4 + vb / 3
    t = (np.mean(a) - np.mean(b)) / math.sqrt(se2)
    dof = se2**2 / ((va / 4) ** 2 / 3 + (vb / 3) ** 2 / 2)
    result = stats.independent_ttest(a, b, equal_variance=False)
    assert result.statistic == pytest.approx(t)
    assert result.dof == pytest.approx(dof)
    assert result.p_value == pytest.approx(2 * scipy.stats.t.sf(abs(t), dof))


def test_ttests_are_nan_for_degenerate_samples():
    assert math.isnan(stats.independent_ttest([1.0], [2.0, 3.0]).p_value)
    assert math.isnan(stats.independent_ttest([1.0, 1.0], [2.0, 2.0]).p_value)
    assert math.isnan(stats.one_sample_ttest([0.5]).p_value)
    assert math.isnan(stats.one_sample_ttest([0.5, 0.5, 0.5]).p_value)
    assert not stats.one_sample_ttest([0.5]).significant()


def test_one_sample_ttest_formula():
    values = [0.1, -0.3, 0.4, 0.2]
    mean, s = np.mean(values), np.std(values, ddof=1)  # 0.1 and sqrt(0.26 / 3)
    t = mean / (s / 2.0)
    result = stats.one_sample_ttest(values)
    assert result.statistic == pytest.approx(t)
    assert result.p_value == pytest.approx(2 * scipy.stats.t.sf(abs(t), 3))
    shifted = stats.one_sample_ttest(values, mean=0.1)
    assert shifted.statistic == pytest.approx(0.0, abs=1e-12)
    assert shifted.p_value == pytest.approx(1.0)


def test_least_squares_line_by_hand():
    # points (0, 1), (1, 2), (2, 2), (3, 5): mean x 1.5, mean y 2.5;
    # Sxy = (-1.5)(-1.5) + (-0.5)(-0.5) + (0.5)(-0.5) + (1.5)(2.5) = 6, Sxx = 5
    slope, intercept = stats.least_squares_line([0, 1, 2, 3], [1, 2, 2, 5])
    assert slope == pytest.approx(1.2)
    assert intercept == pytest.approx(2.5 - 1.2 * 1.5)
    assert (slope, intercept) == pytest.approx(tuple(np.polyfit([0, 1, 2, 3], [1, 2, 2, 5], 1)))
    assert all(math.isnan(v) for v in stats.least_squares_line([1, 1], [2, 3]))
    with pytest.raises(ValueError):
        stats.least_squares_line([1, 2], [1, 2, 3])


def test_mean_and_std_and_formatting():
    assert stats.mean_and_std([2.0, 4.0]) == pytest.approx((3.0, math.sqrt(2.0)))
    assert stats.mean_and_std([5.0]) == (5.0, 0.0)
    assert all(math.isnan(v) for v in stats.mean_and_std([]))
    assert stats.format_p_value(0.0312) == ".031"
    assert stats.format_p_value(0.0009) == "<.001"
    assert stats.significance_mark(0.049, "†") == "†"
    assert stats.significance_mark(0.05, "†") == ""


# Scores ----------------------------------------------------------------------------------


def _categorical() -> pd.DataFrame:
    # seed 0: truth a a a b b c, prediction a a b b a c ; seed 1: all correct
    truth = ["a", "a", "a", "b", "b", "c"]
    rows = []
    for seed, prediction in ((0, ["a", "a", "b", "b", "a", "c"]), (1, truth)):
        for k, (t, p) in enumerate(zip(truth, prediction, strict=True)):
            rows.append({"system": "s", "seed": seed, "fold": f"f{k % 2}", "id": f"u{k}", "truth": t, "prediction": p})
    return pd.DataFrame(rows)


def test_pooled_scores_categorical_by_hand():
    scores = analyses.pooled_scores(_categorical(), labels=["a", "b", "c", "d"])
    first = scores[scores["seed"] == 0].iloc[0]
    # recalls a 2/3, b 1/2, c 1 -> UA 13/18; WA 4/6
    assert first["UA"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert first["WA"] == pytest.approx(4 / 6)
    # a: P 2/3, R 2/3 -> F1 2/3; b: P 1/2, R 1/2 -> 1/2; c: 1
    assert first["F1_a"] == pytest.approx(2 / 3)
    assert first["F1_b"] == pytest.approx(1 / 2)
    assert first["F1_c"] == pytest.approx(1.0)
    assert math.isnan(first["F1_d"])  # no utterance of class d: undefined, not 0
    assert first["macro_F1"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert first["n"] == 6
    assert scores[scores["seed"] == 1].iloc[0]["UA"] == pytest.approx(1.0)


def test_pooled_scores_dimensional_matches_formulas():
    truth = np.array([-0.5, 0.0, 0.5, 1.0])
    prediction = np.array([-0.2, 0.1, 0.2, 0.5])
    frame = pd.DataFrame({"system": "s", "seed": 0, "id": list("abcd"), "truth_valence": truth, "pred_valence": prediction,
                          "truth_arousal": truth, "pred_arousal": truth})
    row = analyses.pooled_scores(frame, targets=["valence", "arousal"]).iloc[0]
    mt, mp = truth.mean(), prediction.mean()
    vt, vp = truth.var(), prediction.var()
    cov = ((truth - mt) * (prediction - mp)).mean()
    assert row["CCC_valence"] == pytest.approx(2 * cov / (vt + vp + (mt - mp) ** 2))
    assert row["PCC_valence"] == pytest.approx(cov / math.sqrt(vt * vp))
    assert row["MSE_valence"] == pytest.approx(((truth - prediction) ** 2).mean())
    assert row["CCC_arousal"] == pytest.approx(1.0)
    assert row["CCC_mean"] == pytest.approx((row["CCC_valence"] + 1.0) / 2)
    with pytest.raises(ValueError):
        analyses.pooled_scores(frame)


def test_mean_std_table_and_seed_means():
    metrics = pd.DataFrame({"system": ["a"] * 4 + ["b"] * 2, "seed": [0, 0, 1, 1, 0, 1], "fold": ["1", "2"] * 3,
                            "UA": [0.5, 0.7, 0.6, 0.8, 0.4, 0.4]})
    means = analyses.seed_means(metrics, columns=["UA"])
    assert means.loc[means["system"] == "a", "UA"].tolist() == pytest.approx([0.6, 0.7])
    table = analyses.mean_std_table(means)
    row = table[table["system"] == "a"].iloc[0]
    assert row["UA_mean"] == pytest.approx(0.65)
    assert row["UA_std"] == pytest.approx(math.sqrt(0.005))
    assert row["count"] == 2
    assert analyses.best_seed(metrics, metric="UA") == {"a": 1, "b": 0}  # b: a tie goes to the lower seed
    assert analyses.best_seed(metrics, metric="UA", lower_is_better=True)["a"] == 0


def test_pairwise_tests_and_baseline_marks():
    samples = pd.DataFrame({
        "system": ["audio"] * 3 + ["text"] * 3 + ["fusion"] * 3,
        "seed": [0, 1, 2] * 3,
        "UA": [0.50, 0.52, 0.51, 0.70, 0.74, 0.66, 0.71, 0.73, 0.72],
    })
    systems = ["audio", "text", "fusion"]
    pairs = analyses.pairwise_tests(samples, metric="UA", systems=systems, test="independent_t")
    assert list(zip(pairs["system_a"], pairs["system_b"], strict=True)) == [("audio", "text"), ("audio", "fusion"), ("text", "fusion")]
    expected = scipy.stats.ttest_ind([0.50, 0.52, 0.51], [0.71, 0.73, 0.72]).pvalue
    assert pairs.iloc[1]["p_value"] == pytest.approx(expected)
    assert pairs.iloc[1]["mean_b"] == pytest.approx(0.72)
    marks = analyses.baseline_marks(samples, metric="UA", systems=systems, baselines=["audio", "text"], test="independent_t")
    # fusion differs from audio (p < .001) but not from text (means .70 and .72, p > .05)
    assert marks == {"audio": "", "text": "", "fusion": "*"}
    marks = analyses.baseline_marks(samples, metric="UA", systems=["fusion"], baselines=["text", "audio"], test="independent_t")
    assert marks == {"fusion": "†"}


def test_paired_test_pairs_scores_by_seed_and_fold():
    # the rows are shuffled: pairing must follow (seed, fold), not the row order
    samples = pd.DataFrame({
        "system": ["a", "a", "a", "a", "b", "b", "b", "b"],
        "seed": [0, 0, 1, 1, 1, 0, 1, 0],
        "fold": [0, 1, 0, 1, 1, 0, 0, 1],
        "UA": [0.50, 0.60, 0.55, 0.65, 0.69, 0.52, 0.58, 0.63],
    })
    pairs = analyses.pairwise_tests(samples, metric="UA", systems=["a", "b"])
    # differences b - a by (seed, fold): (0,0) .02, (0,1) .03, (1,0) .03, (1,1) .04
    d = np.array([0.02, 0.03, 0.03, 0.04])
    t = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
    p = 2 * scipy.stats.t.sf(abs(t), d.size - 1)
    assert pairs.iloc[0]["statistic"] == pytest.approx(-t)
    assert pairs.iloc[0]["p_value"] == pytest.approx(p)
    # unpaired, the same scores are far from significant: pairing is what makes the difference
    unpaired = analyses.pairwise_tests(samples, metric="UA", systems=["a", "b"], test="independent_t")
    assert unpaired.iloc[0]["p_value"] > 0.3 > 0.05 > p


def test_wilcoxon_is_the_exact_signed_rank_distribution():
    import itertools

    a = [0.50, 0.61, 0.55, 0.70, 0.66, 0.58]
    b = [0.53, 0.60, 0.59, 0.75, 0.72, 0.60]
    d = np.array(b) - np.array(a)
    ranks = scipy.stats.rankdata(np.abs(d))
    w_plus = ranks[d > 0].sum()
    w = min(w_plus, ranks.sum() - w_plus)
    # enumerate every sign assignment: the exact null distribution of the smaller rank sum
    sums = [sum(r for r, s in zip(ranks, signs, strict=True) if s) for signs in itertools.product([0, 1], repeat=d.size)]
    extreme = sum(min(s, ranks.sum() - s) <= w for s in sums)
    result = stats.wilcoxon_test(a, b)
    assert result.statistic == pytest.approx(w)
    assert result.p_value == pytest.approx(extreme / len(sums))


def test_compare_rejects_unknown_tests_and_unequal_pairs():
    with pytest.raises(ValueError, match="test must be one of"):
        stats.compare([1.0, 2.0], [1.0, 2.0], test="anova")
    with pytest.raises(ValueError, match="differ in length"):
        stats.paired_ttest([1.0, 2.0, 3.0], [1.0, 2.0])


def test_confusion_matrices_average_counts_over_seeds():
    matrices = analyses.confusion_matrices(_categorical(), labels=["a", "b", "c"])
    counts = matrices["s"].to_numpy()
    # seed 0: a->a 2, a->b 1, b->a 1, b->b 1, c->c 1; seed 1: a->a 3, b->b 2, c->c 1; mean over 2 seeds
    assert counts.tolist() == [[2.5, 0.5, 0.0], [0.5, 1.5, 0.0], [0.0, 0.0, 1.0]]
    normalized = analyses.confusion_matrices(_categorical(), labels=["a", "b", "c"], normalize=True)["s"].to_numpy()
    assert normalized[0].tolist() == pytest.approx([5 / 6, 1 / 6, 0.0])
    assert normalized.sum(axis=1) == pytest.approx([1.0, 1.0, 1.0])


def test_stratified_scores_by_hand():
    frame = _categorical()
    manifest = pd.DataFrame({"id": [f"u{k}" for k in range(6)], "scripted": [True, False, True, False, True, None]})
    strata = analyses.strata_from_metadata(manifest)
    assert strata == {"u0": "scripted", "u1": "improvised", "u2": "scripted", "u3": "improvised", "u4": "scripted"}
    scores = analyses.stratified_scores(frame[frame["seed"] == 0], strata, labels=["a", "b", "c"])
    scripted = scores[scores["stratum"] == "scripted"].iloc[0]
    # scripted seed 0: u0 a->a, u2 a->b, u4 b->a: recall a 1/2, b 0 -> UA 1/4; c absent
    assert scripted["UA"] == pytest.approx(0.25)
    assert scripted["n"] == 3
    assert math.isnan(scripted["F1_c"])
    improvised = scores[scores["stratum"] == "improvised"].iloc[0]
    # improvised: u1 a->a, u3 b->b -> UA 1
    assert improvised["UA"] == pytest.approx(1.0)
    assert analyses.strata_from_metadata(manifest, "missing") == {}


def test_residuals_and_bias_by_hand():
    frame = pd.DataFrame({"system": "s", "seed": 0, "fold": "f", "id": ["a", "b", "c", "d"],
                          "truth_valence": [0.5, 0.5, -0.5, 0.0], "pred_valence": [0.3, 0.4, -0.2, 0.2]})
    table = analyses.residuals(frame, targets=["valence"])
    assert table["residual"].tolist() == pytest.approx([0.2, 0.1, -0.3, -0.2])
    bias = analyses.residual_bias(table, {"a": "q", "b": "q", "c": "s", "d": "s"})
    question = bias[bias["group"] == "q"].iloc[0]
    # residuals 0.2, 0.1: mean 0.15, s = sqrt(0.005), t = 0.15 / (s / sqrt 2) = 3, 1 degree of freedom
    assert question["mean"] == pytest.approx(0.15)
    assert question["statistic"] == pytest.approx(3.0)
    assert question["p_value"] == pytest.approx(2 * scipy.stats.t.sf(3.0, 1))
    assert question["n"] == 2
    statement = bias[bias["group"] == "s"].iloc[0]
    assert statement["mean"] == pytest.approx(-0.25)  # over-prediction


def test_residual_lines_show_regression_towards_the_mean():
    truth = np.linspace(-1, 1, 9)
    frame = pd.DataFrame({"system": ["shrunk"] * 9 + ["exact"] * 9, "seed": 0, "fold": "f", "id": [f"u{k}" for k in range(18)],
                          "truth_arousal": np.concatenate([truth, truth]),
                          "pred_arousal": np.concatenate([0.1 + 0.4 * (truth - 0.1), truth])})
    lines = analyses.residual_lines(analyses.residuals(frame, targets=["arousal"]))
    shrunk = lines[lines["system"] == "shrunk"].iloc[0]
    # y_pred = m + k (y - m) with m = 0.1, k = 0.4: residual (1 - k)(y - m) -> slope 0.6, intercept -0.06
    assert shrunk["slope"] == pytest.approx(0.6)
    assert shrunk["intercept"] == pytest.approx(-0.06)
    exact = lines[lines["system"] == "exact"].iloc[0]
    assert exact["slope"] == pytest.approx(0.0, abs=1e-12)


def test_scaling_curve_and_fit():
    points = pd.DataFrame({"system": "s", "train_size": [16, 16, 32, 32, 64, 64],
                           "UA": [0.40, 0.42, 0.45, 0.47, 0.50, 0.52]})
    curve = analyses.scaling_curve(points, metric="UA")
    assert curve["train_size"].tolist() == [16, 32, 64]
    assert curve["mean"].tolist() == pytest.approx([0.41, 0.46, 0.51])
    assert curve["std"].tolist() == pytest.approx([math.sqrt(0.0002)] * 3)
    fit = analyses.scaling_fit(curve).iloc[0]
    assert fit["per_doubling"] == pytest.approx(0.05)  # +5 points UA per doubling
    assert fit["intercept"] == pytest.approx(0.41 - 4 * 0.05)


def test_ttests_treat_rounding_noise_as_constant():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(stats.one_sample_ttest([0.1 + 0.2, 0.3, 0.3]).p_value)
        assert math.isnan(stats.independent_ttest([0.7, 0.7 + 1e-17], [0.1 + 0.2, 0.3]).p_value)
        result = stats.independent_ttest([0.1 + 0.2, 0.3, 0.3], [0.2, 0.4, 0.5])
    # one constant sample: s_p^2 = (0 + 2 * var(b)) / 4, t = (0.3 - mean(b)) / (s_p sqrt(2/3))
    b = np.array([0.2, 0.4, 0.5])
    t = (0.3 - b.mean()) / math.sqrt(2 * b.var(ddof=1) / 4 * (2 / 3))
    assert result.p_value == pytest.approx(2 * scipy.stats.t.sf(abs(t), 4))
