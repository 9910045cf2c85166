"""Evaluation: metrics as pure functions and their aggregation over folds and seeds."""

from emofuse.evaluation.aggregate import summarize
from emofuse.evaluation.aggregate import summary_markdown
from emofuse.evaluation.analyses import DIALOGUE_ACT_NAMES
from emofuse.evaluation.analyses import baseline_marks
from emofuse.evaluation.analyses import best_seed
from emofuse.evaluation.analyses import confusion_matrices
from emofuse.evaluation.analyses import mean_std_table
from emofuse.evaluation.analyses import pairwise_tests
from emofuse.evaluation.analyses import pooled_scores
from emofuse.evaluation.analyses import residual_bias
from emofuse.evaluation.analyses import residual_lines
from emofuse.evaluation.analyses import residuals
from emofuse.evaluation.analyses import scaling_curve
from emofuse.evaluation.analyses import scaling_fit
from emofuse.evaluation.analyses import seed_means
from emofuse.evaluation.analyses import strata_from_metadata
from emofuse.evaluation.analyses import stratified_scores
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
from emofuse.evaluation.stats import SIGNIFICANCE_SYMBOLS
from emofuse.evaluation.stats import TTestResult
from emofuse.evaluation.stats import format_p_value
from emofuse.evaluation.stats import independent_ttest
from emofuse.evaluation.stats import least_squares_line
from emofuse.evaluation.stats import mean_and_std
from emofuse.evaluation.stats import one_sample_ttest
from emofuse.evaluation.stats import significance_mark

__all__ = [
    "DIALOGUE_ACT_NAMES",
    "SIGNIFICANCE_SYMBOLS",
    "TTestResult",
    "baseline_marks",
    "best_seed",
    "categorical_scores",
    "concordance_correlation",
    "confusion_matrices",
    "confusion_matrix",
    "dimensional_scores",
    "f1_per_class",
    "format_p_value",
    "independent_ttest",
    "least_squares_line",
    "macro_f1",
    "mean_and_std",
    "mean_squared_error",
    "mean_std_table",
    "one_sample_ttest",
    "pairwise_tests",
    "pearson_correlation",
    "pooled_scores",
    "residual_bias",
    "residual_lines",
    "residuals",
    "scaling_curve",
    "scaling_fit",
    "seed_means",
    "significance_mark",
    "strata_from_metadata",
    "stratified_scores",
    "summarize",
    "summary_markdown",
    "unweighted_average_recall",
    "weighted_accuracy",
]
