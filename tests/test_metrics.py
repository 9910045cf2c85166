import numpy as np
import pytest
import scipy.stats
import sklearn.metrics

from emofuse.evaluation import metrics
from emofuse.evaluation.aggregate import summarize
from emofuse.evaluation.aggregate import summary_table


@pytest.fixture
def categorical():
    rng = np.random.default_rng(0)
    truth = rng.choice(["neu", "hap", "sad", "ang"], size=200, p=[0.4, 0.3, 0.2, 0.1])
    prediction = np.where(rng.random(200) < 0.6, truth, rng.choice(["neu", "hap", "sad", "ang"], size=200))
    return list(truth), list(prediction)


def test_categorical_against_formulas(categorical):
    truth, prediction = np.array(categorical[0]), np.array(categorical[1])
    labels = ["neu", "hap", "sad", "ang"]
    recall = [np.mean(prediction[truth == k] == k) for k in labels]
    precision = [np.mean(truth[prediction == k] == k) for k in labels]
    f1 = [2 * p * r / (p + r) for p, r in zip(precision, recall, strict=True)]
    assert metrics.weighted_accuracy(truth, prediction) == pytest.approx(np.mean(truth == prediction))
    assert metrics.unweighted_average_recall(truth, prediction, labels=labels) == pytest.approx(np.mean(recall))
    assert metrics.macro_f1(truth, prediction, labels=labels) == pytest.approx(np.mean(f1))
    assert list(metrics.f1_per_class(truth, prediction, labels=labels).values()) == pytest.approx(f1)
    counts = [[int(np.sum((truth == t) & (prediction == p))) for p in labels] for t in labels]
    assert metrics.confusion_matrix(truth, prediction, labels=labels) == counts
    normalized = metrics.confusion_matrix(truth, prediction, labels=labels, normalize=True)
    assert np.allclose(np.sum(normalized, axis=1), 1.0)
    assert metrics.unweighted_average_recall(truth, prediction) == pytest.approx(
        sklearn.metrics.balanced_accuracy_score(truth, prediction))


def test_dimensional_against_formulas():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=100)
    prediction = 0.5 * truth + rng.normal(scale=0.5, size=100) + 0.2
    covariance = np.mean((truth - truth.mean()) * (prediction - prediction.mean()))
    ccc = 2 * covariance / (truth.var() + prediction.var() + (truth.mean() - prediction.mean()) ** 2)
    assert metrics.concordance_correlation(truth, prediction) == pytest.approx(ccc)
    assert metrics.pearson_correlation(truth, prediction) == pytest.approx(scipy.stats.pearsonr(truth, prediction)[0])
    assert metrics.mean_squared_error(truth, prediction) == pytest.approx(np.mean((truth - prediction) ** 2))


def test_scores_only_over_present_classes():
    scores = metrics.categorical_scores(["a", "a"], ["a", "b"], labels=["a", "b", "c"])
    assert scores["UA"] == 0.5 and scores["WA"] == 0.5
    with pytest.raises(ValueError, match="2 items but prediction has 1"):
        metrics.weighted_accuracy(["a", "b"], ["a"])


def test_summary_mean_and_std():
    frame = __import__("pandas").DataFrame({
        "system": ["a"] * 4, "seed": [0, 0, 1, 1], "fold": ["1", "2", "1", "2"],
        "UA": [0.5, 0.7, 0.6, 0.8], "WA": [0.5, 0.5, 0.5, 0.5], "macro_F1": [0.1, 0.2, 0.3, 0.4]})
    row = summarize(frame).iloc[0]
    assert row["UA_mean"] == pytest.approx(0.65)
    assert row["UA_std"] == pytest.approx(np.std([0.5, 0.7, 0.6, 0.8], ddof=1))
    assert row["UA_seed_std"] == pytest.approx(np.std([0.6, 0.7], ddof=1))
    table = summary_table(summarize(frame), task_type="categorical", references={"a": {"UA": 70.0}})
    assert table.iloc[0]["UA"] == "65.0 ± 12.9" and table.iloc[0]["paper"] == "UA 70.0"


def test_pooled_summary_weights_utterances_not_folds():
    import pandas as pd

    from emofuse.evaluation.aggregate import pooled_summary

    # seed 0: fold 1 all right (UA 1.0), fold 2 UA 0.25 (fold mean 0.625); pooled: x 2/3, y 1/2 -> 7/12
    frame = pd.DataFrame({"system": "a", "seed": 0, "fold": ["1", "1", "2", "2", "2"],
                          "truth": ["x", "y", "x", "x", "y"], "prediction": ["x", "y", "x", "y", "x"]})
    two_seeds = pd.concat([frame, frame.assign(seed=1, prediction="x")])  # seed 1: everything "x" -> 0.5
    row = pooled_summary(two_seeds, task_type="categorical", labels=["x", "y"]).iloc[0]
    assert row["UA_pooled_mean"] == pytest.approx((7 / 12 + 0.5) / 2)
    assert row["UA_pooled_std"] == pytest.approx(np.std([7 / 12, 0.5], ddof=1))
    metrics = pd.DataFrame({"system": ["a"] * 2, "seed": [0, 0], "fold": ["1", "2"], "UA": [1.0, 0.5], "WA": [1.0, 0.33],
                            "macro_F1": [1.0, 0.33]})
    summary = summarize(metrics).merge(pooled_summary(frame, task_type="categorical", labels=["x", "y"]), on="system")
    table = summary_table(summary, task_type="categorical")
    assert list(table.columns) == ["system", "UA", "WA", "macro_F1", "UA pooled", "runs"]
    assert table.iloc[0]["UA pooled"] == "58.3"  # one seed: a value, not "± 0.0"
    assert table.iloc[0]["UA"] == "75.0 ± 35.4"


def test_pooled_summary_dimensional():
    import pandas as pd

    from emofuse.evaluation.aggregate import pooled_summary

    frame = pd.DataFrame({"system": "a", "seed": 0, "fold": ["1", "1", "2", "2"],
                          "truth_valence": [0.1, 0.5, 0.2, 0.9], "pred_valence": [0.1, 0.5, 0.2, 0.9]})
    row = pooled_summary(frame, task_type="dimensional", targets=["valence"]).iloc[0]
    assert row["CCC_mean_pooled_mean"] == pytest.approx(1.0)
