"""The report: the papers' tables and figures from one or more run directories.

:func:`build_report` reads run directories (:mod:`emofuse.reports.run`), computes the analyses
(:mod:`emofuse.evaluation.analyses`), and writes ``OUT/report.md`` or a self-contained
``OUT/report.html`` (figures inlined), with the PNG figures in ``OUT/figures/`` and every table
as CSV in ``OUT/tables/`` (PNG and CSV files left there by an earlier report are removed).
Sections, per run:

1. systems and protocol facts (folds, speakers per fold, the validator's verdict, text overlap);
2. results: mean ± std over folds and seeds, the paper's value, t-test marks and p-values;
3. per-emotion F1 and confusion matrices (categorical);
4. scripted vs improvised (or any manifest metadata column) stratified scores;
5. dialogue-act bias: residual t-tests and box plots (dimensional), per-act UA (categorical);
6. residuals against the gold value with least-squares lines (dimensional);

and over all runs: the data-size curve (few-shot runs) and cross-corpus results.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Literal

import pandas as pd

from emofuse.evaluation import analyses
from emofuse.evaluation.aggregate import HEADLINE
from emofuse.evaluation.aggregate import summarize
from emofuse.evaluation.stats import COMPARISONS
from emofuse.evaluation.stats import SIGNIFICANCE_SYMBOLS
from emofuse.evaluation.summary import system_settings
from emofuse.evaluation.summary import task_settings
from emofuse.files import atomic_write_text
from emofuse.reports import figures
from emofuse.reports import tables
from emofuse.reports.comparisons import cross_corpus_section
from emofuse.reports.comparisons import scaling_section
from emofuse.reports.render import Block
from emofuse.reports.render import Heading
from emofuse.reports.render import Image
from emofuse.reports.render import Paragraph
from emofuse.reports.render import Table
from emofuse.reports.render import render_html
from emofuse.reports.render import render_markdown
from emofuse.reports.run import Run
from emofuse.reports.run import baseline_systems
from emofuse.reports.run import headline_metric
from emofuse.reports.run import load_run

FORMATS = ("md", "html")


# Building --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ReportOptions:
    """What the report analyses and how.

    ``dialogue_acts``: utterance id -> act (from an EMOTyDA file); without it the manifests'
    ``dialogue_act`` column is used. ``baselines``: the systems that fusions are tested
    against, in marker order (default: every system with one input and no members).
    ``stratify``: the manifest column for the stratified analysis. ``alpha``: significance level.
    ``test``: how systems are compared: ``paired_t`` (default; every system is scored on the
    same folds and seeds, so the scores pair up), ``wilcoxon`` (signed-rank, no normality
    assumed) or ``independent_t``. ``figures``: draw the figures (without them the report has
    the tables only, and is faster).
    """

    dialogue_acts: Mapping[str, str] | None = None
    baselines: tuple[str, ...] | None = None
    stratify: str = "scripted"
    alpha: float = 0.05
    title: str | None = None
    figures: bool = True
    test: Literal["paired_t", "wilcoxon", "independent_t"] = "paired_t"

    @property
    def test_name(self) -> str:
        return f"two-sided {COMPARISONS[self.test]}"


class _Builder:
    def __init__(self, output: pathlib.Path, options: ReportOptions) -> None:
        self.output = output
        self.options = options
        self.blocks: list[Block] = []
        self.tables = 0
        self.figures = 0
        self.slugs: set[str] = set()
        for folder, pattern in (("figures", "*.png"), ("tables", "*.csv")):  # no stale files from an earlier report
            (output / folder).mkdir(parents=True, exist_ok=True)
            for stale in (output / folder).glob(pattern):
                stale.unlink()

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(Heading(text, level))

    def paragraph(self, text: str) -> None:
        self.blocks.append(Paragraph(text))

    def table(self, frame: pd.DataFrame, caption: str, name: str) -> None:
        self.tables += 1
        atomic_write_text(self.output / "tables" / f"{name}.csv", frame.to_csv(index=False))
        self.blocks.append(Table(frame, caption, self.tables))

    def draw(self, name: str, caption: str, function: Callable[..., pathlib.Path], *args: Any, **kwargs: Any) -> None:
        """Draw ``function(*args, path=figures/<name>.png, **kwargs)`` and add it (unless figures are off)."""
        if not self.options.figures:
            return
        path = function(*args, path=self.output / "figures" / f"{name}.png", **kwargs)
        self.figures += 1
        self.blocks.append(Image(path.relative_to(self.output), caption, self.figures))

    def slug(self, text: str) -> str:
        """A file-name prefix for a run, unique within the report."""
        base = _file_name(text)
        slug, index = base, 2
        while slug in self.slugs:
            slug, index = f"{base}_{index}", index + 1
        self.slugs.add(slug)
        return slug


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "run"


def build_report(
    runs: Sequence[str | pathlib.Path],
    output: str | pathlib.Path,
    *,
    format: str = "md",
    options: ReportOptions | None = None,
) -> pathlib.Path:
    """Write the report of ``runs`` into the directory ``output``; returns the report file."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if not runs:
        raise ValueError("give at least one run directory")
    options = options or ReportOptions()
    loaded = [load_run(p) for p in runs]
    output = pathlib.Path(output)
    builder = _Builder(output, options)
    title = options.title or ("Report: " + ", ".join(dict.fromkeys(r.name for r in loaded)))
    builder.heading(title, 1)
    builder.paragraph("Runs: " + "; ".join(f"`{r.name}` (`{_relative(r.path, output)}`)" for r in loaded) + ". "
                      "Scores are on the test folds; mean ± standard deviation over folds × seeds unless a caption says otherwise.")
    main = [r for r in loaded if not r.few_shot]
    names = [r.name for r in main]
    for run in main:
        _run_sections(builder, run, duplicate=names.count(run.name) > 1)
    scaling_section(builder, loaded)
    cross_corpus_section(builder, loaded)
    if format == "md":
        path = output / "report.md"
        atomic_write_text(path, render_markdown(builder.blocks))
    else:
        path = output / "report.html"
        atomic_write_text(path, render_html(builder.blocks, title=title, base=output))
    return path


def _relative(path: pathlib.Path, start: pathlib.Path) -> str:
    """``path`` relative to the report's directory (reports never name absolute paths)."""
    import os

    try:
        return pathlib.Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()
    except ValueError:  # another drive
        return path.name


# Per-run sections ------------------------------------------------------------------------


def _run_sections(builder: _Builder, run: Run, *, duplicate: bool = False) -> None:
    slug = builder.slug(f"{run.name}_{run.path.name}" if duplicate else run.name)
    systems = run.systems
    builder.heading(f"Run `{run.name}`" + (f" ({run.task_type}, `{run.path.name}`)" if duplicate else ""))
    description = run.config.description
    task = "categorical (" + ", ".join(tables.display_name(c) for c in run.labels) + ")" if run.task_type == "categorical" \
        else "dimensional (" + ", ".join(run.targets) + ")"
    builder.paragraph((f"{description} " if description else "") + f"Task: {task}. Seeds: {', '.join(map(str, run.seeds))}. "
                      f"Directory: `{run.path.name}`.")
    builder.paragraph("Systems: " + "; ".join(f"`{s}` = {_system_text(run, s)}" for s in systems) + ".")
    builder.table(pd.DataFrame([{"system": s, "settings": system_settings(run.config, s)} for s in systems]),
                  "Settings each system ran with: its model's settings that differ from the defaults, its inputs, and "
                  "for neural systems the optimiser, learning rate, schedule, epochs, batch size and every other training "
                  "setting changed. " + task_settings(run.config), f"{slug}_settings")
    _protocol_section(builder, run, slug)
    samples, unit = _samples(run)
    _results_section(builder, run, slug, samples, unit)
    if run.task_type == "categorical":
        _class_sections(builder, run, slug)
    _strata_section(builder, run, slug)
    _dialogue_act_section(builder, run, slug)
    if run.task_type == "dimensional":
        _residual_line_section(builder, run, slug)


def _system_text(run: Run, system: str) -> str:
    spec = run.system_config(system)
    if spec.fusion is not None:
        method = getattr(spec.fusion.config, "method", None)
        return f"{spec.fusion.name} fusion{f' ({method})' if method else ''} of {' + '.join(spec.members)}"
    model = spec.model.name if spec.model is not None else "?"
    if spec.members:
        return f"{model} over {' + '.join(spec.members)}"
    return f"{model} on {' + '.join(spec.inputs)}"


def _protocol_section(builder: _Builder, run: Run, slug: str) -> None:
    builder.heading("Protocol", 3)
    protocol = run.protocol
    settings = ", ".join(f"{k}={v}" for k, v in protocol.items() if k != "name")
    validation = run.validation
    facts = [f"Protocol `{protocol.get('name', '?')}`" + (f" ({settings})" if settings else "") + f", {len(run.folds)} fold{'' if len(run.folds) == 1 else 's'}."]
    if validation:
        facts.append(f"Validator verdict: **{validation.get('verdict', '?')}** (speaker-independent: "
                     f"{'yes' if validation.get('speaker_independent') else 'no'}; train/dev/test ids disjoint: "
                     f"{'yes' if validation.get('ids_disjoint') else 'no'}).")
        overlap = validation.get("max_text_overlap")
        if overlap is not None:
            facts.append(f"Text overlap: up to {100 * overlap:.1f} % of a fold's test utterances have a (normalised) transcript "
                         "that also occurs in its training set" + (" — text-based scores may be optimistic (shared transcripts, e.g. IEMOCAP scripts)." if overlap > 0.05 else "."))
    else:
        facts.append("No validation.json: the folds were not validated.")
    if run.skipped:
        facts.append(f"{run.skipped} utterances were left out for lack of usable input (skipped.csv).")
    speakers = {u.speaker for u in run.manifest if u.speaker}
    facts.append(f"{len(run.manifest)} utterances in the manifest" + (f", {len(speakers)} speakers" if speakers else "") + ".")
    builder.paragraph(" ".join(facts))
    if run.folds:
        builder.table(tables.fold_table(run.folds, validation, run.utterances),
                      "Folds: utterances and speakers in train / dev / test, the test speakers, and the share of test "
                      "utterances whose transcript also occurs in training.", f"{slug}_folds")


def _samples(run: Run) -> tuple[pd.DataFrame, str]:
    """The samples the tests compare: per-seed means over folds, or folds with one seed (systems
    are paired by seed, or by fold)."""
    columns = [c for c in run.metrics.columns if c not in {"system", "seed", "fold", "n_test"}]
    if len(run.seeds) >= 2:
        return analyses.seed_means(run.metrics, columns=columns), f"{len(run.seeds)} seeds, each the mean over folds"
    return run.metrics, f"{run.metrics['fold'].nunique()} folds of the one seed"


def _results_section(builder: _Builder, run: Run, slug: str, samples: pd.DataFrame, unit: str) -> None:
    alpha = builder.options.alpha
    systems = run.systems
    builder.heading("Results", 3)
    summary = summarize(run.metrics, systems=systems)
    baselines = list(builder.options.baselines) if builder.options.baselines else baseline_systems(run, systems)
    baselines = [b for b in baselines if b in systems]
    compared = [s for s in systems if s not in baselines]
    metric_groups = [HEADLINE["categorical"]] if run.task_type == "categorical" else [
        ["CCC_mean", *[f"CCC_{t}" for t in run.targets]], [*[f"PCC_{t}" for t in run.targets], *[f"MSE_{t}" for t in run.targets]]]
    marks_note = ""
    if baselines and compared:
        legend = ", ".join(f"{symbol} against `{b}`" for b, symbol in zip(baselines, SIGNIFICANCE_SYMBOLS, strict=False))
        marks_note = (f" Systems significantly different from a unimodal baseline ({builder.options.test_name}, p < {alpha:g}, "
                      f"samples: {unit}) are marked: {legend}.")
    for index, metrics in enumerate(metric_groups):
        metrics = [m for m in metrics if f"{m}_mean" in summary.columns]
        marks = {}
        if baselines and compared:
            marks = {m: analyses.baseline_marks(samples, metric=m, systems=systems, baselines=baselines, alpha=alpha,
                                                test=builder.options.test) for m in metrics}
        spread = "folds × seeds" if len(run.seeds) > 1 else "folds (one seed)"
        caption = (f"Test scores, mean ± std over {spread}" + (" (%)" if run.task_type == "categorical" else "") + "."
                   + marks_note + (" `paper`: the published value recorded in the recipe's references." if run.references else ""))
        builder.table(tables.results_table(summary, metrics=metrics, references=run.references, marks=marks), caption,
                      f"{slug}_results" + (f"_{index + 1}" if len(metric_groups) > 1 else ""))
    if len(systems) > 1:
        metric = headline_metric(run.task_type)
        pairs = analyses.pairwise_tests(samples, metric=metric, systems=systems, test=builder.options.test)
        atomic_write_text(builder.output / "tables" / f"{slug}_tests.csv", pairs.to_csv(index=False))
        builder.table(tables.pvalue_matrix(pairs, systems, alpha=alpha),
                      f"p-values of {builder.options.test_name}s of {tables.metric_title(metric)} between systems "
                      f"(samples: {unit}, paired by seed or fold where the test pairs); p < {alpha:g} in bold.",
                      f"{slug}_pvalues")
    if run.task_type == "dimensional":
        builder.paragraph("CCC: concordance correlation; PCC: Pearson correlation; MSE on the normalised [-1, 1] scale.")


def _class_sections(builder: _Builder, run: Run, slug: str) -> None:
    labels, systems = run.labels, run.systems
    builder.heading("Per-emotion F1 and confusion matrices", 3)
    pooled = analyses.pooled_scores(run.predictions, by=("system", "seed"), labels=labels)
    summary = analyses.mean_std_table(pooled, by=("system",))
    single = len(run.seeds) == 1
    builder.table(tables.per_class_table(summary, labels),
                  "F1 per emotion (%), on the test predictions pooled over folds" + ("." if single else "; mean ± std over seeds."),
                  f"{slug}_f1")
    means = pd.DataFrame({s: [100 * summary.loc[summary["system"] == s, f"F1_{c}_mean"].iloc[0] for c in labels] for s in systems},
                         index=[tables.display_name(c) for c in labels])
    stds = pd.DataFrame({s: [100 * summary.loc[summary["system"] == s, f"F1_{c}_std"].iloc[0] for c in labels] for s in systems},
                        index=means.index)
    builder.draw(f"{slug}_f1", "F1 per emotion and system (pooled over folds" + (")." if single else "; error bars: std over seeds)."),
                 figures.grouped_bars, means, None if single else stds, ylabel="F1 (%)", xlabel="true class", title=f"{run.name}: F1 per emotion",
                 colors=figures.system_colors(systems), ylim=(0, 105))
    counts = analyses.confusion_matrices(run.predictions, labels=labels)
    normalized = analyses.confusion_matrices(run.predictions, labels=labels, normalize=True)
    seeds = len(run.seeds)
    for system in systems:
        name = f"{slug}_confusion_{_file_name(system)}"
        atomic_write_text(builder.output / "tables" / f"{name}_counts.csv", tables.confusion_table(counts[system], normalized=False).to_csv(index=False))
        atomic_write_text(builder.output / "tables" / f"{name}_normalized.csv", tables.confusion_table(normalized[system], normalized=True).to_csv(index=False))
        builder.draw(name, f"Confusion matrix of `{system}`: rows true, columns predicted; counts pooled over folds"
                     + (f" and averaged over {seeds} seeds" if seeds > 1 else "") + " (left), row-normalised % (right; the diagonal is each class's recall).",
                     figures.confusion_figure, counts[system], normalized[system], title=f"{run.name}: {system}")


def _strata_section(builder: _Builder, run: Run, slug: str) -> None:
    key = builder.options.stratify
    title = "Scripted vs improvised" if key == "scripted" else f"Stratified by `{key}`"
    builder.heading(title, 3)
    strata = analyses.strata_from_metadata(run.utterances, key)
    tested = set(run.predictions["id"].astype(str))
    present = sorted({v for i, v in strata.items() if i in tested}, key=lambda s: (s != "scripted", s))
    if len(present) < 2:
        builder.paragraph(f"Not available: the manifest has no `{key}` metadata with two or more values on the test utterances.")
        return
    labels, targets, systems = (run.labels, None, run.systems) if run.task_type == "categorical" else (None, run.targets, run.systems)
    scores = analyses.stratified_scores(run.predictions, strata, labels=labels, targets=targets)
    summary = analyses.mean_std_table(scores, by=("system", "stratum"))
    atomic_write_text(builder.output / "tables" / f"{slug}_strata_scores.csv", summary.to_csv(index=False))
    order = " / ".join(present)
    metrics = ["UA"] if run.task_type == "categorical" else ["CCC_mean", *[f"CCC_{t}" for t in run.targets]]
    builder.table(tables.strata_table(summary, metrics=metrics, strata=present, systems=systems),
                  f"{' and '.join(tables.metric_title(m) for m in metrics[:1])}{' and CCC per dimension' if run.task_type != 'categorical' else ''} "
                  f"per stratum, reported as {order} (as Table 7 of Triantafyllopoulos et al.); predictions pooled over folds, "
                  "mean over seeds; the better stratum in bold.", f"{slug}_strata")
    if run.task_type == "categorical":
        builder.table(tables.strata_table(summary, metrics=[f"F1_{c}" for c in labels], strata=present, systems=systems),
                      f"F1 per emotion (%) per stratum, reported as {order} (as Table 8 of Triantafyllopoulos et al.).", f"{slug}_strata_f1")
        bars = "; error bars: std over seeds" if len(run.seeds) > 1 else ""
        builder.draw(f"{slug}_strata_f1", f"F1 per emotion for each stratum ({order}) and system{bars}.",
                     figures.strata_f1_figure, summary, systems=systems, labels=labels, strata=present,
                     title=f"{run.name}: F1 per emotion, {order}")
        counts = tables.stratum_counts(run.utterances[run.utterances["id"].astype(str).isin(tested)], strata,
                                       labels=labels, strata_order=present)
        builder.table(counts, f"Test utterances per class and stratum ({order}).", f"{slug}_strata_counts")


def _acts(builder: _Builder, run: Run) -> dict[str, str]:
    if builder.options.dialogue_acts is not None:
        return {str(k): str(v) for k, v in builder.options.dialogue_acts.items()}
    return analyses.strata_from_metadata(run.utterances, "dialogue_act")


def _dialogue_act_section(builder: _Builder, run: Run, slug: str) -> None:
    builder.heading("Dialogue acts", 3)
    acts = _acts(builder, run)
    tested = set(run.predictions["id"].astype(str))
    covered = tested & set(acts)
    if not covered:
        builder.paragraph("Not available: no dialogue acts for the test utterances (give an EMOTyDA-format file with "
                          "`--dialogue-acts`, or a manifest with a `dialogue_act` column).")
        return
    systems, alpha = run.systems, builder.options.alpha
    coverage = f"Dialogue acts cover {len(covered)} of {len(tested)} test utterances."
    if run.task_type == "categorical":
        scores = analyses.stratified_scores(run.predictions, acts, labels=run.labels)
        summary = analyses.mean_std_table(scores, by=("system", "stratum"))
        rows = []
        for act in sorted(set(summary["stratum"])):
            part = summary[summary["stratum"] == act]
            row = {"act": tables.act_title(act), "n": str(int(scores.loc[scores["stratum"] == act, "n"].max()))}
            for system in systems:
                found = part[part["system"] == system]
                row[system] = tables.score(found["UA_mean"].iloc[0], found["UA_std"].iloc[0], "UA", count=int(found["count"].iloc[0])) if len(found) else ""
            rows.append(row)
        builder.paragraph(coverage + " The residual t-tests of Triantafyllopoulos et al. need a dimensional run; "
                          "for a categorical run the report gives UA per act.")
        builder.table(pd.DataFrame(rows), "UA (%) per dialogue act (predictions pooled over folds; mean ± std over seeds; "
                      "n: test utterances with the act).", f"{slug}_acts_ua")
        return
    seeds = _selected_seeds(run)
    table = _best_residuals(run, seeds)
    bias = analyses.residual_bias(table, acts)
    atomic_write_text(builder.output / "tables" / f"{slug}_act_bias.csv", bias.to_csv(index=False))
    chosen = ", ".join(f"`{s}` seed {seeds[s]}" for s in systems)
    builder.paragraph(coverage + f" Residuals e = y_true − y_pred of the best seed of each system by mean dev CCC ({chosen}); "
                      "per act a two-sided one-sample t-test of mean 0 (rejecting it means the system is biased for that act; "
                      "a negative mean residual is over-prediction).")
    builder.table(tables.bias_table(bias, systems=systems, targets=run.targets, alpha=alpha),
                  f"p-values of the two-sided one-sample t-tests for zero-mean residuals per dialogue act (as Table 4 of "
                  f"Triantafyllopoulos et al.); p < {alpha:g} in bold; n: test utterances with the act.", f"{slug}_act_pvalues")
    builder.table(tables.bias_table(bias, systems=systems, targets=run.targets, alpha=alpha, field="mean"),
                  f"Mean residual per dialogue act (negative: over-prediction; bold where p < {alpha:g}).", f"{slug}_act_means")
    builder.draw(f"{slug}_act_residuals", "Residuals y_true − y_pred per dialogue act and system (boxes: quartiles; "
                 "whiskers: 1.5 IQR; dashed: zero residual; n: test utterances with the act).",
                 figures.residual_boxes_figure, table, acts, systems=systems, targets=run.targets,
                 colors=figures.system_colors(systems), title=f"{run.name}: residuals per dialogue act")


def _selected_seeds(run: Run) -> dict[str, int]:
    """Per system, the seed with the best mean dev score (test score when there is no dev set)."""
    metric = headline_metric(run.task_type)
    source = run.dev_metrics if not run.dev_metrics.empty and metric in run.dev_metrics.columns else run.metrics
    seeds = analyses.best_seed(source, metric=metric)
    return {s: seeds.get(s, run.seeds[0]) for s in run.systems}


def _best_residuals(run: Run, seeds: Mapping[str, int]) -> pd.DataFrame:
    keep = pd.Series(False, index=run.predictions.index)
    for system, seed in seeds.items():
        keep |= (run.predictions["system"] == system) & (run.predictions["seed"] == seed)
    return analyses.residuals(run.predictions[keep], targets=run.targets)


def _residual_line_section(builder: _Builder, run: Run, slug: str) -> None:
    builder.heading("Residuals against the gold value", 3)
    systems = run.systems
    seeds = _selected_seeds(run)
    table = _best_residuals(run, seeds)
    lines = analyses.residual_lines(table)
    atomic_write_text(builder.output / "tables" / f"{slug}_residual_lines.csv", lines.to_csv(index=False))
    ranges = {t: (float(table.loc[table["target"] == t, "truth"].min()), float(table.loc[table["target"] == t, "truth"].max()))
              for t in run.targets}
    builder.paragraph("Least-squares lines of the residual e = y_true − y_pred against the gold value y_true, per system and "
                      "dimension (best seed by dev score, as above). For predictions shrunk towards the mean, "
                      "y_pred = m + k (y_true − m) with k < 1, the residual is (1 − k)(y_true − m): a positive slope is "
                      "regression towards the mean (0: errors independent of the gold value; 1: a constant prediction).")
    builder.table(tables.lines_table(lines, systems=systems, targets=run.targets),
                  "Slope and intercept of the residual-vs-gold least-squares lines.", f"{slug}_residual_slopes")
    builder.draw(f"{slug}_residual_lines", "Least-squares lines of residuals against the gold value per dimension (as Fig. 5 "
                 "of Triantafyllopoulos et al.); dashed: zero residual.",
                 figures.residual_lines_figure, lines, ranges, systems=systems, targets=run.targets,
                 colors=figures.system_colors(systems), title=f"{run.name}: residuals against gold (least-squares lines)")
