"""Evaluation: metrics as pure functions and their aggregation over folds and seeds."""

from emofuse.evaluation.aggregate import summarize
from emofuse.evaluation.aggregate import summary_markdown
from emofuse.evaluation.metrics import categorical_scores
from emofuse.evaluation.metrics import concordance_correlation
from emofuse.evaluation.metrics import confusion_matrix
from emofuse.evaluation.metrics import dimensional_scores
from emofuse.evaluation.metrics import f1_per_class
from emofuse.evaluation.metrics import macro_f1
from emofuse.evaluation.metrics import mean_squared_error
from emofuse.evaluation.metrics import pearson_correlation
from emofuse.evaluation.metrics import unweighted_average_recall
from emofuse.evaluation.metrics import weighted_accuracy

__all__ = [
    "categorical_scores",
    "concordance_correlation",
    "confusion_matrix",
    "dimensional_scores",
    "f1_per_class",
    "macro_f1",
    "mean_squared_error",
    "pearson_correlation",
    "summarize",
    "summary_markdown",
    "unweighted_average_recall",
    "weighted_accuracy",
]
