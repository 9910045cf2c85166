"""The ONNX export of the bundled recogniser: the same posteriors as PyTorch, no torch at run
time, the tokenizer as transformers', and clear errors for incomplete or older exports. (Every
registered model and fusion is exported in ``tests/test_systems.py``.)"""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from emofuse.cli import app
from emofuse.inference import Recognizer
from emofuse.inference import RecognizerError
from emofuse.inference.batch import examples_directory

pytest.importorskip("onnx", reason="ONNX export needs the onnx extra")
EXAMPLES = examples_directory()
runner = CliRunner()

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    directory = tmp_path_factory.mktemp("onnx") / "default"
    result = runner.invoke(app, ["export", "default", "-o", str(directory), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    assert "as ONNX" in result.output
    return directory


@pytest.fixture(scope="module")
def pytorch():
    return Recognizer.from_pretrained("default", asr="none")


def test_the_directory_holds_onnx_graphs_and_no_pytorch_weights(exported):
    names = {p.relative_to(exported).as_posix() for p in exported.rglob("*") if p.is_file()}
    kinds = {}
    systems = sorted(p.name for p in (exported / "systems").iterdir())
    assert {"speech", "text", "fused"} <= set(systems)
    for system in systems:
        assert {f"systems/{system}/onnx.json", f"systems/{system}/system.json"} <= names
        kinds[system] = json.loads((exported / "systems" / system / "onnx.json").read_text())["kind"]
        # graphs for torch systems; the default's linear members keep their numpy weights (no torch either way)
        weights = "model.safetensors" if kinds[system] == "classic" else "model.onnx"
        assert f"systems/{system}/{weights}" in names
    assert kinds["fused"] != "classic" and "systems/fused/model.onnx" in names
    assert {"encoders/minilm/encoder.onnx", "encoders/minilm/tokenizer.json", "config.json"} <= names
    assert not [n for n in names if n.endswith(".safetensors") and kinds.get(n.split("/")[1]) != "classic"]
    config = json.loads((exported / "config.json").read_text())
    assert config["provenance"]["onnx"]["max_difference"] < 1e-3 and "onnxruntime" in config["versions"]


def test_posteriors_equal_pytorch_within_1e_3(exported, pytorch):
    onnx = Recognizer.from_pretrained(exported, asr="none")
    clips = [str(EXAMPLES / f"{name}.wav") for name in ("angry", "happy", "sad")]
    texts = ["I am furious with you", None, "I miss her so much"]
    for before, after in zip(pytorch.predict(clips, texts=texts), onnx.predict(clips, texts=texts), strict=True):
        assert after.emotion == before.emotion and after.systems == before.systems
        np.testing.assert_allclose([after.posteriors[c] for c in onnx.classes],
                                   [before.posteriors[c] for c in pytorch.classes], atol=1e-3)
    text_only = onnx(text="What a wonderful surprise"), pytorch(text="What a wonderful surprise")
    np.testing.assert_allclose(list(text_only[0].posteriors.values()), list(text_only[1].posteriors.values()), atol=1e-3)


def test_onnx_recogniser_imports_neither_torch_nor_lightning(exported):
    code = (
        "import sys\n"
        "from emofuse.cli import main\n"
        f"sys.argv = ['emofuse', 'predict', {str(EXAMPLES / 'sad.wav')!r}, '--model', {str(exported)!r}, '--text', 'so sad']\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        f"sys.argv = ['emofuse', 'predict', {str(EXAMPLES / 'dialogue.wav')!r}, '--model', {str(exported)!r}, '--timeline',"
        " '--asr', 'none', '--no-progress']\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "loaded = [m for m in ('torch', 'lightning', 'pytorch_lightning', 'transformers') if m in sys.modules]\n"
        "print('LOADED', loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()[:2]
    assert json.loads(first)["transcript"] == "so sad" and "LOADED []" in result.stdout
    timeline = json.loads(second)["timeline"]
    assert len(timeline["segments"]) >= 4
    if (exported / "encoders" / "speaker" / "encoder.onnx").is_file():  # exported with the speaker extra
        assert timeline["speakers"] and all("speaker" in s for s in timeline["segments"])


def test_the_tokenizer_matches_transformers():
    from emofuse.text.lm import load_encoder
    from emofuse.text.onnx_embedding import OnnxTokenizer

    tokenizer, _ = load_encoder("sentence-transformers/all-MiniLM-L6-v2")
    directory = pytest.importorskip("pathlib").Path(__import__("tempfile").mkdtemp())
    tokenizer.backend_tokenizer.save(str(directory / "tokenizer.json"))
    settings = {"max_length": 16, "padding_side": tokenizer.padding_side, "pad_id": tokenizer.pad_token_id,
                "pad_token": tokenizer.pad_token, "tensors": {"input_ids": "ids", "attention_mask": "mask"}}
    ours = OnnxTokenizer(directory / "tokenizer.json", settings)
    texts = ["Short.", "A much longer sentence that will certainly be cut at sixteen tokens, or so I hope!",
             "Ünïcödé — émotions 😊", "   "]
    theirs = tokenizer(texts, padding=True, truncation=True, max_length=16)
    got = ours(texts)
    assert got["ids"].tolist() == theirs["input_ids"] and got["mask"].tolist() == theirs["attention_mask"]
    shutil.rmtree(directory)


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: (d / "systems" / "text" / "onnx.json").unlink(), "missing onnx.json"),
    (lambda d: (d / "systems" / "fused" / "model.onnx").unlink(), "missing model.onnx"),
    (lambda d: (d / "encoders" / "minilm" / "tokenizer.json").unlink(), "missing tokenizer.json"),
    (lambda d: _set(d / "systems" / "fused" / "onnx.json", format_version=0), "ONNX format_version 0"),
    (lambda d: _set(d / "encoders" / "minilm" / "encoder.json", format_version=7), "format_version 7"),
    (lambda d: _set(d / "config.json", format_version=1), "format_version 1 was written by an older emofuse"),
])
def test_an_incomplete_or_older_export_names_the_file_or_version(exported, tmp_path, change, message):
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    change(copy)
    with pytest.raises(RecognizerError, match=message):
        Recognizer.from_pretrained(copy, asr="none")


def _set(path, **values):
    data = json.loads(path.read_text())
    data.update(values)
    path.write_text(json.dumps(data))


def test_export_errors_are_clear(exported, tmp_path):
    result = runner.invoke(app, ["export", str(exported), "-o", str(tmp_path / "again"), "--format", "onnx"])
    assert result.exit_code == 2 and "already an ONNX export" in result.output
    result = runner.invoke(app, ["export", "default", "-o", str(tmp_path / "x"), "--format", "tflite"])
    assert result.exit_code == 2 and "--format must be pytorch or onnx" in result.output
    result = runner.invoke(app, ["export", "default", "-o", str(tmp_path / "x")])
    assert result.exit_code == 2 and "not an emofuse run directory" in result.output
