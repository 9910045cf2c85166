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

import base64
import dataclasses
import html
import json
import pathlib
import re
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import pandas as pd

from emofuse.evaluation import analyses
from emofuse.evaluation.aggregate import HEADLINE
from emofuse.evaluation.aggregate import summarize
from emofuse.evaluation.stats import SIGNIFICANCE_SYMBOLS
from emofuse.evaluation.stats import mean_and_std
from emofuse.reports import figures
from emofuse.reports import tables
from emofuse.reports.run import Run
from emofuse.reports.run import load_run

FORMATS = ("md", "html")


# The document ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclasses.dataclass(frozen=True)
class Paragraph:
    text: str


@dataclasses.dataclass(frozen=True)
class Table:
    frame: pd.DataFrame
    caption: str
    number: int


@dataclasses.dataclass(frozen=True)
class Image:
    path: pathlib.Path  # relative to the report's directory
    caption: str
    number: int


Block = Heading | Paragraph | Table | Image


def render_markdown(blocks: Sequence[Block]) -> str:
    """Markdown: headings, paragraphs, pipe tables with their caption above, figures below."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            lines += [block.text, ""]
        elif isinstance(block, Table):
            lines += [f"**Table {block.number}.** {block.caption}", ""]
            header = [str(c) for c in block.frame.columns]
            lines.append("| " + " | ".join(_cell(c) for c in header) + " |")
            lines.append("|" + "|".join("---" for _ in header) + "|")
            for row in block.frame.itertuples(index=False):
                lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
            lines.append("")
        else:
            lines += [f"![{_plain(block.caption)}]({block.path.as_posix()})", "", f"*Figure {block.number}.* {block.caption}", ""]
    return "\n".join(lines)


def render_html(blocks: Sequence[Block], *, title: str, base: pathlib.Path) -> str:
    """One HTML file with the figures inlined as base64 PNGs (self-contained)."""
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_inline(str(c))}</th>" for c in block.frame.columns)
            rows = "".join("<tr>" + "".join(f"<td>{_inline(str(v))}</td>" for v in row) + "</tr>"
                           for row in block.frame.itertuples(index=False))
            body.append(f"<table><caption><b>Table {block.number}.</b> {_inline(block.caption)}</caption>"
                        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        else:
            data = base64.b64encode((base / block.path).read_bytes()).decode("ascii")
            body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(_plain(block.caption))}">'
                        f"<figcaption><b>Figure {block.number}.</b> {_inline(block.caption)}</figcaption></figure>")
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}"
             "table{border-collapse:collapse;margin:1em 0;font-size:0.92em}caption{text-align:left;padding:0.3em 0}"
             "th,td{border:1px solid #bbb;padding:0.25em 0.6em;text-align:left}th{background:#eee}"
             "figure{margin:1.5em 0}img{max-width:100%}code{background:#f3f3f3;padding:0 0.2em}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _plain(text: str) -> str:
    return re.sub(r"[*`]", "", text)


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
    return re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", text)


# Building --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ReportOptions:
    """What the report analyses and how.

    ``dialogue_acts``: utterance id -> act (from an EMOTyDA file); without it the manifests'
    ``dialogue_act`` column is used. ``baselines``: the systems that fusions are tested
    against, in marker order (default: every system with one input and no members).
    ``stratify``: the manifest column for the stratified analysis. ``alpha``: significance level.
    ``figures``: draw the figures (without them the report has the tables only, and is faster).
    """

    dialogue_acts: Mapping[str, str] | None = None
    baselines: tuple[str, ...] | None = None
    stratify: str = "scripted"
    alpha: float = 0.05
    title: str | None = None
    figures: bool = True


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
        frame.to_csv(self.output / "tables" / f"{name}.csv", index=False)
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
    builder.paragraph("Runs: " + "; ".join(f"`{r.name}` ({r.path})" for r in loaded) + ". "
                      "Scores are on the test folds; mean ± standard deviation over folds × seeds unless a caption says otherwise.")
    main = [r for r in loaded if not r.few_shot]
    names = [r.name for r in main]
    for run in main:
        _run_sections(builder, run, duplicate=names.count(run.name) > 1)
    _scaling_section(builder, loaded)
    _cross_corpus_section(builder, loaded)
    if format == "md":
        path = output / "report.md"
        path.write_text(render_markdown(builder.blocks), encoding="utf-8")
    else:
        path = output / "report.html"
        path.write_text(render_html(builder.blocks, title=title, base=output), encoding="utf-8")
    return path


def headline_metric(kind: str) -> str:
    """UA for categorical tasks, mean CCC for dimensional ones."""
    return "UA" if kind == "categorical" else "CCC_mean"


def baseline_systems(run: Run, systems: Sequence[str]) -> list[str]:
    """Unimodal systems: a model over exactly one input, not built from other systems.

    Where fusions name members, the unimodal members come first; at most one per significance
    symbol is kept, in config order (``--baseline`` chooses others).
    """
    result = []
    for system in systems:
        spec = run.system_config(system)
        if spec.get("model") and len(spec.get("inputs") or []) == 1 and not spec.get("members"):
            result.append(system)
    members = {m for s in systems for m in (run.system_config(s).get("members") or [])}
    result = [s for s in result if s in members] + [s for s in result if s not in members]
    return result[:len(SIGNIFICANCE_SYMBOLS)]


# Per-run sections ------------------------------------------------------------------------


def _run_sections(builder: _Builder, run: Run, *, duplicate: bool = False) -> None:
    slug = builder.slug(f"{run.name}_{run.path.name}" if duplicate else run.name)
    systems = run.systems
    builder.heading(f"Run `{run.name}`" + (f" ({run.kind}, `{run.path.name}`)" if duplicate else ""))
    description = run.config.get("description")
    task = "categorical (" + ", ".join(tables.display_name(c) for c in run.labels) + ")" if run.kind == "categorical" \
        else "dimensional (" + ", ".join(run.targets) + ")"
    builder.paragraph((f"{description} " if description else "") + f"Task: {task}. Seeds: {', '.join(map(str, run.seeds))}. "
                      f"Directory: `{run.path}`.")
    builder.paragraph("Systems: " + "; ".join(f"`{s}` = {_system_text(run, s)}" for s in systems) + ".")
    _protocol_section(builder, run, slug)
    samples, unit = _samples(run)
    _results_section(builder, run, slug, samples, unit)
    if run.kind == "categorical":
        _class_sections(builder, run, slug)
    _strata_section(builder, run, slug)
    _dialogue_act_section(builder, run, slug)
    if run.kind == "dimensional":
        _residual_line_section(builder, run, slug)


def _system_text(run: Run, system: str) -> str:
    spec = run.system_config(system)
    model = (spec.get("model") or {}).get("name")
    fusion = (spec.get("fusion") or {}).get("name")
    members = spec.get("members") or []
    if fusion:
        method = (spec.get("fusion") or {}).get("method")
        return f"{fusion} fusion{f' ({method})' if method else ''} of {' + '.join(members)}"
    if members:
        return f"{model} over {' + '.join(members)}"
    return f"{model} on {' + '.join(spec.get('inputs') or [])}" if model else "?"


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
    if run.skipped is not None and len(run.skipped):
        facts.append(f"{len(run.skipped)} utterances were left out for lack of usable input (skipped.csv).")
    facts.append(f"{len(run.manifest)} utterances in the manifest"
                 + (f", {run.manifest['speaker'].nunique()} speakers" if "speaker" in run.manifest.columns else "") + ".")
    builder.paragraph(" ".join(facts))
    if run.folds:
        builder.table(tables.fold_table(run.folds, validation, run.manifest),
                      "Folds: utterances and speakers in train / dev / test, the test speakers, and the share of test "
                      "utterances whose transcript also occurs in training.", f"{slug}_folds")


def _samples(run: Run) -> tuple[pd.DataFrame, str]:
    """The independent samples of the t-tests: per-seed means over folds, or folds with one seed."""
    columns = [c for c in run.metrics.columns if c not in {"system", "seed", "fold", "n_test"}]
    if len(run.seeds) >= 2:
        return analyses.seed_means(run.metrics, columns=columns), "seeds (each the mean over folds)"
    return run.metrics, "folds (only one seed)"


def _results_section(builder: _Builder, run: Run, slug: str, samples: pd.DataFrame, unit: str) -> None:
    alpha = builder.options.alpha
    systems = run.systems
    builder.heading("Results", 3)
    summary = summarize(run.metrics, task_kind=run.kind, systems=systems)
    baselines = list(builder.options.baselines) if builder.options.baselines else baseline_systems(run, systems)
    baselines = [b for b in baselines if b in systems]
    compared = [s for s in systems if s not in baselines]
    metric_groups = [HEADLINE["categorical"]] if run.kind == "categorical" else [
        ["CCC_mean", *[f"CCC_{t}" for t in run.targets]], [*[f"PCC_{t}" for t in run.targets], *[f"MSE_{t}" for t in run.targets]]]
    marks_note = ""
    if baselines and compared:
        legend = ", ".join(f"{symbol} against `{b}`" for b, symbol in zip(baselines, SIGNIFICANCE_SYMBOLS, strict=False))
        marks_note = (f" Systems significantly different from a unimodal baseline (two-sided independent t-test, p < {alpha:g}, "
                      f"samples: {unit}) are marked: {legend}.")
    for index, metrics in enumerate(metric_groups):
        metrics = [m for m in metrics if f"{m}_mean" in summary.columns]
        marks = {}
        if baselines and compared:
            marks = {m: analyses.baseline_marks(samples, metric=m, systems=systems, baselines=baselines, alpha=alpha) for m in metrics}
        caption = ("Test scores, mean ± std over folds × seeds" + (" (%)" if run.kind == "categorical" else "") + "."
                   + marks_note + (" `paper`: the published value recorded in the recipe's references." if run.references else ""))
        builder.table(tables.results_table(summary, metrics=metrics, references=run.references, marks=marks), caption,
                      f"{slug}_results" + (f"_{index + 1}" if len(metric_groups) > 1 else ""))
    if len(systems) > 1:
        metric = headline_metric(run.kind)
        pairs = analyses.pairwise_tests(samples, metric=metric, systems=systems)
        pairs.to_csv(builder.output / "tables" / f"{slug}_ttests.csv", index=False)
        builder.table(tables.pvalue_matrix(pairs, systems, alpha=alpha),
                      f"p-values of two-sided independent t-tests of {tables.metric_title(metric)} between systems "
                      f"(samples: {unit}); p < {alpha:g} in bold.", f"{slug}_pvalues")
    if run.kind == "dimensional":
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
        tables.confusion_table(counts[system], normalized=False).to_csv(builder.output / "tables" / f"{name}_counts.csv", index=False)
        tables.confusion_table(normalized[system], normalized=True).to_csv(builder.output / "tables" / f"{name}_normalized.csv", index=False)
        builder.draw(name, f"Confusion matrix of `{system}`: rows true, columns predicted; counts pooled over folds"
                     + (f" and averaged over {seeds} seeds" if seeds > 1 else "") + " (left), row-normalised % (right; the diagonal is each class's recall).",
                     figures.confusion_figure, counts[system], normalized[system], title=f"{run.name}: {system}")


def _strata_section(builder: _Builder, run: Run, slug: str) -> None:
    key = builder.options.stratify
    title = "Scripted vs improvised" if key == "scripted" else f"Stratified by `{key}`"
    builder.heading(title, 3)
    strata = analyses.strata_from_metadata(run.manifest, key)
    tested = set(run.predictions["id"].astype(str))
    present = sorted({v for i, v in strata.items() if i in tested}, key=lambda s: (s != "scripted", s))
    if len(present) < 2:
        builder.paragraph(f"Not available: the manifest has no `{key}` metadata with two or more values on the test utterances.")
        return
    labels, targets, systems = (run.labels, None, run.systems) if run.kind == "categorical" else (None, run.targets, run.systems)
    scores = analyses.stratified_scores(run.predictions, strata, labels=labels, targets=targets)
    summary = analyses.mean_std_table(scores, by=("system", "stratum"))
    summary.to_csv(builder.output / "tables" / f"{slug}_strata_scores.csv", index=False)
    order = " / ".join(present)
    metrics = ["UA"] if run.kind == "categorical" else ["CCC_mean", *[f"CCC_{t}" for t in run.targets]]
    builder.table(tables.strata_table(summary, metrics=metrics, strata=present, systems=systems),
                  f"{' and '.join(tables.metric_title(m) for m in metrics[:1])}{' and CCC per dimension' if run.kind != 'categorical' else ''} "
                  f"per stratum, reported as {order} (as Table 7 of Triantafyllopoulos et al.); predictions pooled over folds, "
                  "mean over seeds; the better stratum in bold.", f"{slug}_strata")
    if run.kind == "categorical":
        builder.table(tables.strata_table(summary, metrics=[f"F1_{c}" for c in labels], strata=present, systems=systems),
                      f"F1 per emotion (%) per stratum, reported as {order} (as Table 8 of Triantafyllopoulos et al.).", f"{slug}_strata_f1")
        builder.draw(f"{slug}_strata_f1", f"F1 per emotion for each stratum ({order}) and system (error bars: std over seeds).",
                     figures.strata_f1_figure, summary, systems=systems, labels=labels, strata=present,
                     title=f"{run.name}: F1 per emotion, {order}")
        counts = tables.stratum_counts(run.manifest[run.manifest["id"].astype(str).isin(tested)], strata,
                                       labels=labels, strata_order=present)
        builder.table(counts, f"Test utterances per class and stratum ({order}).", f"{slug}_strata_counts")


def _acts(builder: _Builder, run: Run) -> dict[str, str]:
    if builder.options.dialogue_acts is not None:
        return {str(k): str(v) for k, v in builder.options.dialogue_acts.items()}
    return analyses.strata_from_metadata(run.manifest, "dialogue_act")


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
    if run.kind == "categorical":
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
    bias.to_csv(builder.output / "tables" / f"{slug}_act_bias.csv", index=False)
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
    metric = headline_metric(run.kind)
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
    lines.to_csv(builder.output / "tables" / f"{slug}_residual_lines.csv", index=False)
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


# Sections over runs ----------------------------------------------------------------------


def _scaling_section(builder: _Builder, runs: Sequence[Run]) -> None:
    few = [r for r in runs if r.few_shot]
    if not few:
        return
    builder.heading("Data-size scaling")
    groups: dict[str, list[Run]] = {}
    for run in few:
        groups.setdefault(_scaling_key(run, run.protocol.get("base") or {}), []).append(run)
    for run in runs:
        if not run.few_shot and _scaling_key(run, run.protocol) in groups:
            groups[_scaling_key(run, run.protocol)].append(run)
    for index, members in enumerate(groups.values()):
        members = sorted(members, key=lambda r: r.train_size)
        kind = members[0].kind
        metric = headline_metric(kind)
        rows = []
        for run in members:
            for record in analyses.seed_means(run.metrics, columns=[metric]).to_dict(orient="records"):
                rows.append({"system": record["system"], "train_size": round(run.train_size, 1), metric: record[metric]})
        curve = analyses.scaling_curve(pd.DataFrame(rows), metric=metric)
        fit = analyses.scaling_fit(curve)
        base = members[0].protocol.get("base") or members[0].protocol
        name = f"scaling_{index + 1}"
        builder.paragraph(f"Runs {', '.join(f'`{r.name}`' for r in members)}: few-shot subsets of protocol "
                          f"`{base.get('name', '?')}` (n_per_class = "
                          + ", ".join(str(r.protocol.get("n_per_class", "all")) for r in sorted(members, key=lambda r: r.train_size))
                          + "); x is the mean number of training utterances per fold; dev and test sets are the same for every size.")
        builder.table(tables.scaling_table(curve, fit, metric=metric),
                      f"{tables.metric_title(metric)} against training-set size (mean ± std over seeds of the fold mean); "
                      "`per doubling`: slope of the least-squares line of the score against log2(size).", name)
        builder.draw(name, f"{tables.metric_title(metric)} against the number of training examples (log x-axis; error bars: "
                     "std over seeds).", figures.scaling_figure, curve, ylabel=tables.metric_title(metric),
                     colors=figures.system_colors(members[0].systems + [s for s in curve["system"] if s not in members[0].systems]),
                     title="Score against number of training examples", scale=100.0 if tables.is_percent(metric) else 1.0)


def _scaling_key(run: Run, protocol: Mapping[str, Any]) -> str:
    return json.dumps({"data": run.config.get("data"), "task": (run.config.get("task") or {}).get("type"),
                       "protocol": dict(protocol)}, sort_keys=True, default=str)


@dataclasses.dataclass(frozen=True)
class _Column:
    title: str
    samples: pd.DataFrame  # system, seed, metrics: per seed, the mean over fold models
    run: Run
    cross: bool


def _corpus_columns(runs: Sequence[Run]) -> list[_Column]:
    """In-domain, cross-corpus-run and ``evaluate_on`` columns, titled ``train → test``."""
    columns: list[_Column] = []
    for run in runs:
        if run.few_shot:
            continue
        train = ", ".join(run.corpora("train")) or run.name
        test = ", ".join(run.corpora("test")) or run.name
        names = [c for c in run.metrics.columns if c not in {"system", "seed", "fold", "n_test"}]
        columns.append(_Column(f"{train} → {test}", analyses.seed_means(run.metrics, columns=names), run, run.cross_corpus))
        for cross in run.cross:
            scores = analyses.pooled_scores(cross.predictions, by=("system", "seed", "fold"),
                                            labels=run.labels if run.kind == "categorical" else None,
                                            targets=run.targets if run.kind == "dimensional" else None)
            names = [c for c in scores.columns if c not in {"system", "seed", "fold", "n"}]
            columns.append(_Column(f"{train} → {cross.corpus}", analyses.seed_means(scores, columns=names), run, True))
    keys = [(c.run.kind, c.title) for c in columns]  # one table per task kind: titles must differ within a kind
    return [dataclasses.replace(c, title=f"{c.title} (`{c.run.name}`)") if keys.count((c.run.kind, c.title)) > 1 else c
            for c in columns]


def _cross_corpus_section(builder: _Builder, runs: Sequence[Run]) -> None:
    columns = _corpus_columns(runs)
    kinds = sorted({c.run.kind for c in columns if c.cross})
    if not kinds:
        return
    builder.heading("Cross-corpus results")
    alpha = builder.options.alpha
    for kind in kinds:
        part = [c for c in columns if c.run.kind == kind]
        systems = list(dict.fromkeys(s for c in part for s in c.run.systems))
        baselines = list(builder.options.baselines) if builder.options.baselines else baseline_systems(part[0].run, systems)
        legend = ", ".join(f"{symbol} against `{b}`" for b, symbol in zip(baselines, SIGNIFICANCE_SYMBOLS, strict=False))
        metrics = ["UA"] if kind == "categorical" else [f"PCC_{t}" for t in part[0].run.targets]
        for metric in metrics:
            rows = []
            for system in systems:
                row = {"system": system}
                for column in part:
                    found = column.samples.loc[column.samples["system"] == system, metric] if metric in column.samples else []
                    if len(found) == 0:
                        row[column.title] = ""
                        continue
                    mean, std = mean_and_std(found.to_numpy(dtype=float))
                    mark = ""
                    if baselines and system not in baselines:
                        mark = analyses.baseline_marks(column.samples, metric=metric, systems=[system], baselines=baselines,
                                                       alpha=alpha)[system]
                    row[column.title] = tables.score(mean, std, metric, count=len(found)) + mark
                rows.append(row)
            caption = (f"{tables.metric_title(metric)} in- and cross-corpus (columns: train → test corpus); mean ± std over "
                       "seeds of the mean over fold models"
                       + (" — PCC, as the corpora rate dimensions on different scales" if kind == "dimensional" else "") + "."
                       + (f" Marks: two-sided independent t-test over seeds, p < {alpha:g}: {legend}." if legend else ""))
            builder.table(pd.DataFrame(rows), caption, f"cross_corpus_{kind}_{metric}")
    builder.paragraph("Each fold model of a run with `evaluate_on` is tested on the whole other corpus and the scores are "
                      "averaged over fold models, as Triantafyllopoulos et al. test every IEMOCAP fold model on MSP-Podcast; "
                      "a run whose test folds come from corpora its training folds never saw is a cross-corpus column "
                      "of its own. In-domain columns are the runs' own test folds.")
