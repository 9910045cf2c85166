"""Report figures, drawn with matplotlib's object-oriented API on the Agg canvas (no pyplot, no
display): each function takes analysis tables and writes one PNG.

Classes are shown by their readable names, every axis is labelled, and each system keeps one
colour across figures (:func:`system_colors`).
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator
from matplotlib.ticker import MaxNLocator
from matplotlib.ticker import NullLocator

from emofuse.evaluation.analyses import DIALOGUE_ACT_NAMES
from emofuse.reports.tables import display_name

DPI = 120
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_STRATUM_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3")


def system_colors(systems: Sequence[str]) -> dict[str, str]:
    """One colour per system, in order (the tab10 palette, repeated after ten systems)."""
    return {system: _PALETTE[index % len(_PALETTE)] for index, system in enumerate(systems)}


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | pathlib.Path) -> pathlib.Path:
    from emofuse.files import atomic_path

    path = pathlib.Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp_path:
        figure.savefig(tmp_path, dpi=DPI)
    return path


def _class_ticks(labels: Sequence[str]) -> tuple[list[str], float]:
    """Readable class names and a tick-label rotation that keeps them from overlapping."""
    names = [display_name(label) for label in labels]
    longest = max((len(n) for n in names), default=0)
    return names, (0.0 if longest * len(names) <= 40 else 30.0)


def confusion_figure(counts: pd.DataFrame, normalized: pd.DataFrame, path: str | pathlib.Path, *, title: str) -> pathlib.Path:
    """Counts (left) and row-normalised percentages (right), true classes as rows."""
    labels = list(counts.index)
    names, rotation = _class_ticks(labels)
    size = max(3.6, 0.75 * len(labels) + 1.6)
    figure = _figure(2 * size + 0.6, size + 0.6)
    axes = figure.subplots(1, 2)
    integral = bool(np.allclose(counts.to_numpy(), np.round(counts.to_numpy())))
    panels = (
        (axes[0], counts.to_numpy(dtype=float), "counts" + ("" if integral else " (mean over seeds)"), lambda v: f"{v:.0f}" if integral else f"{v:.1f}"),
        (axes[1], 100 * normalized.to_numpy(dtype=float), "row-normalised (%)", lambda v: f"{v:.0f}"),
    )
    font = 10 if len(labels) <= 5 else 8
    for axis, matrix, subtitle, text in panels:
        top = matrix.max() if matrix.size and matrix.max() > 0 else 1.0
        axis.imshow(matrix, cmap="Blues", vmin=0, vmax=top)
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                axis.text(j, i, text(matrix[i, j]), ha="center", va="center", fontsize=font,
                          color="white" if matrix[i, j] > 0.6 * top else "black")
        axis.set_xticks(range(len(labels)), names, rotation=rotation, ha="right" if rotation else "center")
        axis.set_yticks(range(len(labels)), names)
        axis.set_xlabel("predicted class")
        axis.set_ylabel("true class")
        axis.set_title(subtitle, fontsize=10)
    figure.suptitle(title)
    return _save(figure, path)


def grouped_bars(
    means: pd.DataFrame,
    stds: pd.DataFrame | None,
    path: str | pathlib.Path,
    *,
    ylabel: str,
    title: str,
    colors: Mapping[str, str] | None = None,
    ylim: tuple[float, float] | None = None,
    xlabel: str = "",
) -> pathlib.Path:
    """Bars of ``means`` (rows: groups on the x-axis; columns: series), with ``stds`` as error bars."""
    groups = list(means.index)
    series = list(means.columns)
    width = 0.8 / max(len(series), 1)
    figure = _figure(max(5.5, 1.1 * len(groups) * max(1, len(series)) * 0.45 + 2.5), 3.8)
    axis = figure.subplots()
    positions = np.arange(len(groups))
    for index, name in enumerate(series):
        offsets = positions - 0.4 + width * (index + 0.5)
        errors = stds[name].to_numpy(dtype=float) if stds is not None else None
        axis.bar(offsets, means[name].to_numpy(dtype=float), width * 0.95, yerr=errors, capsize=2,
                 label=str(name), color=(colors or {}).get(str(name)), error_kw={"elinewidth": 0.8})
    names = [str(g) for g in groups]
    rotation = 0.0 if max((len(n) for n in names), default=0) * len(names) <= 48 else 30.0
    axis.set_xticks(positions, names, rotation=rotation, ha="right" if rotation else "center")
    axis.set_ylabel(ylabel)
    if xlabel:
        axis.set_xlabel(xlabel)
    if ylim:
        axis.set_ylim(*ylim)
    axis.grid(axis="y", alpha=0.3)
    axis.set_axisbelow(True)
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    axis.set_title(title, fontsize=11)
    return _save(figure, path)


def strata_f1_figure(
    summary: pd.DataFrame,
    path: str | pathlib.Path,
    *,
    systems: Sequence[str],
    labels: Sequence[str],
    strata: Sequence[str],
    title: str,
) -> pathlib.Path:
    """Per system (one panel each), per-class F1 of each stratum side by side."""
    columns = min(len(systems), 3)
    rows = math.ceil(len(systems) / columns)
    names, rotation = _class_ticks(labels)
    figure = _figure(max(4.0, 0.5 * len(labels) * len(strata)) * columns + 1.0, 3.2 * rows + 0.5)
    axes = np.atleast_1d(figure.subplots(rows, columns, sharey=True, squeeze=False)).ravel()
    width = 0.8 / max(len(strata), 1)
    positions = np.arange(len(labels))
    for axis, system in zip(axes, systems, strict=False):
        part = summary[summary["system"] == system]
        for index, stratum in enumerate(strata):
            found = part[part["stratum"] == stratum]
            means = [100 * float(found[f"F1_{c}_mean"].iloc[0]) if len(found) else math.nan for c in labels]
            stds = [100 * float(found[f"F1_{c}_std"].iloc[0]) if len(found) else math.nan for c in labels]
            spread = any(math.isfinite(v) and v > 0 for v in stds)  # no bars for a single seed
            axis.bar(positions - 0.4 + width * (index + 0.5), means, width * 0.95, yerr=stds if spread else None, capsize=2,
                     color=_STRATUM_COLORS[index % len(_STRATUM_COLORS)], label=stratum, error_kw={"elinewidth": 0.8})
        axis.set_xticks(positions, names, rotation=rotation, ha="right" if rotation else "center")
        axis.set_title(system, fontsize=10)
        axis.set_ylim(0, 105)
        axis.grid(axis="y", alpha=0.3)
        axis.set_axisbelow(True)
        axis.set_xlabel("true class")
    for axis in axes[len(systems):]:
        axis.set_visible(False)
    for axis in axes[::columns]:
        axis.set_ylabel("F1 (%)")
    handles, legend_labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, legend_labels, loc="outside upper right", frameon=False, ncols=len(strata))
    figure.suptitle(title, x=0.02, ha="left")
    return _save(figure, path)


def residual_boxes_figure(
    table: pd.DataFrame,
    groups: Mapping[str, str],
    path: str | pathlib.Path,
    *,
    systems: Sequence[str],
    targets: Sequence[str],
    colors: Mapping[str, str],
    title: str,
) -> pathlib.Path:
    """Box plots of residuals ``y_true - y_pred`` per dialogue act (x) and system (colour), one
    panel per target; the dashed line is zero residual (no bias)."""
    frame = table.assign(group=table["id"].astype(str).map(groups))
    frame = frame[frame["group"].notna()]
    acts = sorted(set(frame["group"].astype(str)))
    width = 0.8 / max(len(systems), 1)
    figure = _figure(max(7.0, 0.3 * len(acts) * len(systems) + 2.5), 2.9 * len(targets) + 1.2)
    axes = np.atleast_1d(figure.subplots(len(targets), 1, sharex=True, squeeze=False)).ravel()
    positions = np.arange(len(acts))
    for axis, target in zip(axes, targets, strict=True):
        part = frame[frame["target"] == target]
        for index, system in enumerate(systems):
            rows = part[part["system"] == system]
            data = [rows.loc[rows["group"] == act, "residual"].to_numpy(dtype=float) for act in acts]
            keep = [k for k, d in enumerate(data) if d.size]
            if not keep:
                continue
            boxes = axis.boxplot([data[k] for k in keep], positions=positions[keep] - 0.4 + width * (index + 0.5),
                                 widths=width * 0.85, patch_artist=True, manage_ticks=False,
                                 flierprops={"markersize": 2.5, "markeredgecolor": colors[system]},
                                 medianprops={"color": "black", "linewidth": 1})
            for box in boxes["boxes"]:
                box.set_facecolor(colors[system])
                box.set_alpha(0.75)
        axis.axhline(0.0, color="0.3", linestyle="--", linewidth=0.8)
        axis.set_ylabel(f"{target} residual\n(y_true − y_pred)")
        axis.grid(axis="y", alpha=0.3)
        axis.set_axisbelow(True)
    counts = frame.drop_duplicates("id").groupby("group").size()
    names = [f"{a}\n{DIALOGUE_ACT_NAMES.get(a, '')}\nn={int(counts.get(a, 0))}".replace("\n\n", "\n") for a in acts]
    axes[-1].set_xticks(positions, names, fontsize=8)
    axes[-1].set_xlabel("dialogue act")
    handles = [Patch(facecolor=colors[s], alpha=0.75, label=s) for s in systems]
    figure.legend(handles=handles, loc="outside upper right", ncols=min(len(systems), 5), frameon=False)
    figure.suptitle(title, x=0.02, ha="left")
    return _save(figure, path)


def residual_lines_figure(
    lines: pd.DataFrame,
    ranges: Mapping[str, tuple[float, float]],
    path: str | pathlib.Path,
    *,
    systems: Sequence[str],
    targets: Sequence[str],
    colors: Mapping[str, str],
    title: str,
) -> pathlib.Path:
    """Least-squares lines of residual against gold value, one panel per target (Fig. 5 of
    Triantafyllopoulos et al.): a rising line is regression towards the mean."""
    figure = _figure(3.6 * len(targets) + 1.6, 3.6)
    axes = np.atleast_1d(figure.subplots(1, len(targets), sharey=True, squeeze=False)).ravel()
    for axis, target in zip(axes, targets, strict=True):
        low, high = ranges[target]
        xs = np.array([low, high])
        for system in systems:
            found = lines[(lines["system"] == system) & (lines["target"] == target)]
            if found.empty or not math.isfinite(float(found["slope"].iloc[0])):
                continue
            slope, intercept = float(found["slope"].iloc[0]), float(found["intercept"].iloc[0])
            axis.plot(xs, slope * xs + intercept, color=colors[system], linewidth=2, label=system)
        axis.axhline(0.0, color="0.3", linestyle="--", linewidth=0.8)
        axis.set_xlabel(f"gold {target}")
        axis.set_title(target, fontsize=10)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("residual y_true − y_pred")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right upper", frameon=False)
    figure.suptitle(title, x=0.02, ha="left")
    return _save(figure, path)


def scaling_figure(curve: pd.DataFrame, path: str | pathlib.Path, *, ylabel: str, colors: Mapping[str, str], title: str,
                   scale: float = 100.0) -> pathlib.Path:
    """Score against number of training examples on a log x-axis (Boigne et al., Fig. 2)."""
    figure = _figure(6.4, 4.0)
    axis = figure.subplots()
    groups = list(curve.groupby("system", sort=False))
    for index, (system, part) in enumerate(groups):
        dodge = 1.0 + 0.025 * (index - (len(groups) - 1) / 2)  # keeps error bars of equal sizes apart (log axis)
        axis.errorbar(part["train_size"] * dodge, scale * part["mean"], yerr=scale * part["std"], marker="o", capsize=3,
                      color=colors.get(str(system)), label=str(system))
    axis.set_xscale("log")
    sizes = sorted(set(curve["train_size"]))
    axis.xaxis.set_major_locator(FixedLocator(sizes))
    axis.xaxis.set_minor_locator(NullLocator())
    axis.set_xticks(sizes, [f"{s:.0f}" for s in sizes])
    if len(sizes) > 1:
        axis.set_xlim(sizes[0] / 1.25, sizes[-1] * 1.25)
    axis.set_xlabel("training examples (log scale)")
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    axis.legend(loc="best", frameon=False)
    axis.set_title(title, fontsize=11)
    return _save(figure, path)


def learning_curve_figure(history: pd.DataFrame, path: str | pathlib.Path, *, title: str) -> pathlib.Path:
    """Training and dev loss (left) and the dev score (right) per epoch, from ``history.csv``."""
    figure = _figure(8.0, 3.2)
    losses, scores = figure.subplots(1, 2)
    epochs = history["epoch"].to_numpy()
    for column, label, color in (("train_loss", "training", _PALETTE[0]), ("dev_loss", "dev", _PALETTE[1])):
        if column in history and history[column].notna().any():
            losses.plot(epochs, history[column], marker="o", markersize=3, label=label, color=color)
    losses.set_xlabel("epoch")
    losses.set_ylabel("loss")
    losses.legend(frameon=False)
    if "dev_score" in history and history["dev_score"].notna().any():
        scores.plot(epochs, history["dev_score"], marker="o", markersize=3, color=_PALETTE[2])
        best = int(history["dev_score"].idxmax())
        scores.axvline(epochs[best], color="#999999", linestyle="--", linewidth=1)
        scores.set_ylabel("dev score (UA or mean CCC)")
    else:
        scores.text(0.5, 0.5, "no dev set", ha="center", va="center", transform=scores.transAxes)
        scores.set_yticks([])
    scores.set_xlabel("epoch")
    for axis in (losses, scores):  # whole epochs only, also for runs of a few epochs
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle(title)
    return _save(figure, path)
