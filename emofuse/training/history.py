"""Learning curves: per-epoch training and dev loss and dev score of a fold, as CSV and PNG."""

from __future__ import annotations

import logging

from emofuse.files import atomic_write_text
from emofuse.rundir import FoldDirectory

log = logging.getLogger(__name__)

COLUMNS = ("epoch", "train_loss", "dev_loss", "dev_score")


def read_history(fold: FoldDirectory):  # noqa: ANN201 - a pandas DataFrame
    """Per-epoch ``train_loss``, ``dev_loss`` and ``dev_score`` from the fold's training logs
    (every attempt of a resumed fold, later epochs replacing earlier ones)."""
    import pandas as pd

    frames = []
    for path in sorted(fold.logs.glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name.removeprefix("version_"))):
        try:
            frames.append(pd.read_csv(path))
        except (pd.errors.EmptyDataError, pd.errors.ParserError):  # an attempt killed before its log was written
            log.info("%s: skipped an empty or cut-off training log", path)
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    logged = pd.concat(frames, ignore_index=True)
    if "epoch" not in logged.columns:
        return pd.DataFrame(columns=list(COLUMNS))
    rows = {}
    for epoch, part in logged.groupby("epoch", sort=True):
        row = {"epoch": int(epoch) + 1}
        for column in COLUMNS[1:]:
            name = f"{column}_epoch" if f"{column}_epoch" in part.columns else column
            values = part[name].dropna() if name in part.columns else []
            row[column] = float(values.iloc[-1]) if len(values) else float("nan")
        rows[int(epoch)] = row
    return pd.DataFrame([rows[k] for k in sorted(rows)], columns=list(COLUMNS))


def write_history(fold: FoldDirectory) -> None:
    """Write ``history.csv`` and ``learning_curve.png`` into the fold directory (if it trained
    with Lightning)."""
    history = read_history(fold)
    if history.empty:
        return
    atomic_write_text(fold.history_path, history.to_csv(index=False))
    try:
        from emofuse.reports.figures import learning_curve_figure

        learning_curve_figure(history, fold.learning_curve_path, title=f"{fold.system}, seed {fold.seed}, {fold.fold}")
    except Exception as error:  # noqa: BLE001 - a figure must never fail a finished fold
        log.warning("learning curve of %s not drawn: %s", fold, error)
