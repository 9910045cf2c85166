"""benchmarks/deep_emodb.py keeps the rows its runs do not hold, with the date each was measured."""

from benchmarks.deep_emodb import kept_rows


def row(task, system, uar, date=None):
    return {"task": task, "system": system, "uar_mean": uar, **({"date": date} if date else {})}


def test_rows_not_in_these_runs_are_kept_with_their_date_in_table_order():
    previous = {"date": "2026-11-30T10:00:00", "rows": [
        row("emodb7", "cnn14", 0.52), row("emodb7", "resnet34", 0.62), row("emodb4", "cnn14", 0.75, "2026-12-01")]}
    new = [row("emodb4", "attention_bilstm", 0.74, "2026-12-02"), row("emodb7", "cnn14", 0.55, "2026-12-02")]
    rows = kept_rows(new, previous)
    assert [(r["task"], r["system"], r["uar_mean"], r["date"]) for r in rows] == [
        ("emodb7", "cnn14", 0.55, "2026-12-02"),  # measured again: the new row replaces the old
        ("emodb7", "resnet34", 0.62, "by 2026-11-30"),  # kept: measured by the date of its file
        ("emodb4", "attention_bilstm", 0.74, "2026-12-02"),
        ("emodb4", "cnn14", 0.75, "2026-12-01"),  # kept with its own date
    ]
    assert kept_rows(new, {}) == sorted(new, key=lambda r: r["task"] != "emodb7")
