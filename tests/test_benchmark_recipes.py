"""benchmarks/recipes_iemocap_mini.py keeps the recipes an invocation did not run."""

from benchmarks.recipes_iemocap_mini import merged
from benchmarks.recipes_iemocap_mini import table_rows


def record(mean, date=None):
    system = {"modality": "fused", "metric": "UA", "mean": mean, "std": 0.01, "runs": 10, "paper": None}
    return {"seconds": 1.0, "systems": {"fused": system}, **({"date": date} if date else {})}


def test_a_one_recipe_run_replaces_that_recipe_and_keeps_the_others_with_their_date():
    previous = {"date": "2026-11-22T01:24:19", "recipes": {
        "padi": record(0.30), "triantafyllopoulos": record(0.20), "atmaja": record(0.6, "2026-11-30")}}
    records = merged({"triantafyllopoulos": record(0.51, "2026-12-02")}, previous)
    assert list(records) == ["atmaja", "triantafyllopoulos", "padi"]  # the recipes' order, not the file's
    assert records["triantafyllopoulos"]["systems"]["fused"]["mean"] == 0.51  # run again: replaced
    assert [records[r]["date"] for r in records] == ["2026-11-30", "2026-12-02", "by 2026-11-22"]
    rows = table_rows(records)
    assert [row[0] for row in rows] == ["atmaja", "triantafyllopoulos", "padi"]
    assert rows[1][4] == "51.0 ± 1.0" and rows[1][-1] == "2026-12-02"
    assert merged({"padi": record(0.4, "2026-12-02")}, {}) == {"padi": record(0.4, "2026-12-02")}
