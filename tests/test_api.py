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


def test_the_package_is_found_from_the_parent_of_a_clone_named_emofuse(tmp_path):
    """Run from the folder that holds a clone named ``emofuse``, Python must not take the clone for
    a namespace package (``make install`` uses ``editable_mode=compat`` for that)."""
    import subprocess
    import sys

    from conftest import ROOT

    (tmp_path / "emofuse").symlink_to(ROOT, target_is_directory=True)
    result = subprocess.run([sys.executable, "-c", "import emofuse; print(emofuse.__file__); emofuse.Recognizer"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, ("the clone was imported as a namespace package; install with "
                                    "`pip install --config-settings editable_mode=compat -e .`:\n" + result.stderr[-500:])
    assert result.stdout.strip().endswith("__init__.py")
