"""benchmarks/gpu_full.py --dry-run reports every system that fails and still trains the others."""

from benchmarks.gpu_full import train_each


def test_a_failing_system_is_reported_and_the_others_still_train():
    trained = []

    def train(system):
        if system == "broken":
            raise ValueError("bad shape")
        trained.append(system)
        return {"system": system, "parameters": 10, "seconds": 0.5, "loss": 1.1}

    rows = train_each("iemonet", ["ser", "broken", "ter"], train)
    assert trained == ["ser", "ter"]
    assert [r["system"] for r in rows] == ["ser", "broken", "ter"]
    assert all(r["run"] == "iemonet" for r in rows)
    assert rows[1]["error"] == "ValueError: bad shape" and "error" not in rows[0] and "error" not in rows[2]
