import subprocess
import sys


def test_importing_emofuse_does_not_import_lightning():
    code = "import sys, emofuse, emofuse.models, emofuse.fusion, emofuse.evaluation; print('lightning' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


def test_flat_api():
    import emofuse

    assert callable(emofuse.prepare_iemocap) and callable(emofuse.run_experiment)
    assert "mlp" in emofuse.MODELS and "logmel_stats" in emofuse.FEATURES and "late" in emofuse.SCORE_FUSIONS
