"""Evaluation: metrics as pure functions and their aggregation over folds and seeds."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "aggregate": [
        "summarize",
        "summary_table",
    ],
    "summary": [
        "RunResult",
        "summarize_run",
    ],
    "analyses": [
        "DIALOGUE_ACT_NAMES",
        "baseline_marks",
        "best_seed",
        "confusion_matrices",
        "mean_std_table",
        "pairwise_tests",
        "pooled_scores",
        "residual_bias",
        "residual_lines",
        "residuals",
        "scaling_curve",
        "scaling_fit",
        "seed_means",
        "strata_from_metadata",
        "stratified_scores",
    ],
    "metrics": [
        "categorical_scores",
        "concordance_correlation",
        "confusion_matrix",
        "dimensional_scores",
        "f1_per_class",
        "macro_f1",
        "mean_squared_error",
        "pearson_correlation",
        "unweighted_average_recall",
        "weighted_accuracy",
    ],
    "stats": [
        "SIGNIFICANCE_SYMBOLS",
        "TTestResult",
        "format_p_value",
        "independent_ttest",
        "least_squares_line",
        "mean_and_std",
        "one_sample_ttest",
        "significance_mark",
    ],
})
