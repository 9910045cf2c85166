import json

import yaml
from typer.testing import CliRunner

from emofuse.cli import app

runner = CliRunner()


def test_prepare_and_info(tmp_path, iemocap_mini):
    manifest = tmp_path / "iemocap.csv"
    result = runner.invoke(app, ["prepare", "iemocap", str(iemocap_mini), "-o", str(manifest),
                                 "--set", "label_map=iemocap_full", "--set", "out_of_scale=clip"])
    assert result.exit_code == 0, result.output
    assert "wrote 200 utterances" in result.output
    result = runner.invoke(app, ["info", str(manifest)])
    assert result.exit_code == 0 and "Ses05M" in result.output and "label:" in result.output
    result = runner.invoke(app, ["info", str(manifest), "--json"])
    assert json.loads(result.output)["utterances"] == 200


def test_prepare_errors_are_one_line(tmp_path):
    result = runner.invoke(app, ["prepare", "iemocap", str(tmp_path), "-o", str(tmp_path / "m.csv")])
    assert result.exit_code == 2 and "error:" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["prepare", "nocorpus", str(tmp_path), "-o", str(tmp_path / "m.csv")])
    assert result.exit_code == 2 and "unknown corpus 'nocorpus'" in result.output
    result = runner.invoke(app, ["prepare", "iemocap", str(tmp_path), "-o", str(tmp_path / "m.csv"), "--set", "labelmap=x"])
    assert result.exit_code == 2 and "labelmap: unknown key" in result.output


def test_run_and_resume(tmp_path, synthetic_corpus, tiny_bert):
    config = {
        "name": "cli",
        "data": {"manifest": str(synthetic_corpus)},
        "features": {"logmel": {"name": "logmel_stats", "n_mels": 24}},
        "extraction": {"cache_dir": str(tmp_path / "cache")},
        "systems": {"audio": {"inputs": ["logmel"], "model": {"name": "mlp"}, "training": {"max_epochs": 2}}},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    arguments = ["run", str(path), "-o", str(tmp_path / "run"), "--no-progress", "--set", "systems.audio.training.batch_size=4"]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "| audio |" in result.output
    again = runner.invoke(app, arguments)
    assert again.exit_code == 0
    bad = runner.invoke(app, [*arguments, "--set", "systems.audio.training.max_epoch=3"])
    assert bad.exit_code == 2 and "systems.audio.training.max_epoch: unknown key" in bad.output


def test_run_takes_repeated_or_comma_separated_variants_systems_and_folds(tmp_path, synthetic_corpus, tiny_bert):
    audio = {"inputs": ["logmel"], "model": {"name": "mlp"}, "training": {"max_epochs": 2, "batch_size": 4}}
    config = {
        "name": "cli",
        "data": {"manifest": str(synthetic_corpus)},
        "features": {"logmel": {"name": "logmel_stats", "n_mels": 24}},
        "extraction": {"cache_dir": str(tmp_path / "cache")},
        "systems": {"audio": audio, "audio2": audio, "audio3": audio},
        "variants": {"short": ["systems.audio.training.max_epochs=1"], "other_seed": ["seeds=[1]"]},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["run", str(path), "-o", str(tmp_path / "run"), "--no-progress", "--variant", "short",
                                 "--variant", "other_seed", "--system", "audio,audio2", "--fold", "session_1"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run" / "results" / "summary.json").read_text())
    assert summary["seeds"] == [1]  # the second variant applied too, not only the last one
    assert [row["system"] for row in summary["systems"]] == ["audio", "audio2"] and summary["planned_runs"] > 1
    # the settings each system ran with, next to its scores: the first variant's epochs for one of them
    assert "max 1 epoch," in summary["settings"]["audio"]["settings"]
    assert "max 2 epochs," in summary["settings"]["audio2"]["settings"]
    assert summary["settings"]["audio"]["epochs"] == "best 1.0 of 1.0 trained"
    markdown = (tmp_path / "run" / "results" / "summary.md").read_text()
    assert "**Incomplete:**" in markdown and "audio finished 1" in markdown and "## Settings" in markdown
