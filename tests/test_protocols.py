import pytest

from emofuse.config import Component
from emofuse.data.corpora import prepare_iemocap
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance
from emofuse.data.protocols import CrossGenderConfig
from emofuse.data.protocols import FewShotConfig
from emofuse.data.protocols import Fold
from emofuse.data.protocols import HoldoutSessionConfig
from emofuse.data.protocols import LeaveOneSessionOutConfig
from emofuse.data.protocols import LeaveOneSpeakerOutConfig
from emofuse.data.protocols import OfficialSplitsConfig
from emofuse.data.protocols import ProtocolError
from emofuse.data.protocols import RandomKFoldConfig
from emofuse.data.protocols import ScriptDisjointConfig
from emofuse.data.protocols import make_folds
from emofuse.data.validation import LeakageError
from emofuse.data.validation import normalize_text
from emofuse.data.validation import validate_folds


def toy_manifest():
    """3 sessions x 2 speakers x 4 utterances (2 labels), texts shared within a script."""
    utterances = []
    for session in (1, 2, 3):
        for who in "FM":
            for k in range(4):
                scripted = k >= 2
                utterances.append(Utterance(
                    f"S{session}{who}_{k}", speaker=f"S{session}{who}", session=str(session),
                    label="a" if k % 2 else "b", text=f"script line {k}" if scripted else f"free {session}{who}{k}",
                    metadata={"scripted": scripted, "script": "script01" if scripted else "",
                              "split": {1: "Train", 2: "Development", 3: "Test1"}[session]}))
    return Manifest(utterances)


def folds_of(name, config, manifest=None):
    return make_folds(Component(name, config), manifest or toy_manifest())


def assert_partition(manifest, fold):
    assert not set(fold.train) & set(fold.test)
    assert not set(fold.dev) & set(fold.test)
    assert not set(fold.train) & set(fold.dev)


def test_leave_one_session_out():
    manifest = toy_manifest()
    folds = folds_of("leave_one_session_out", LeaveOneSessionOutConfig(dev_fraction=0.25), manifest)
    assert [f.name for f in folds] == ["session_1", "session_2", "session_3"]
    for fold in folds:
        assert_partition(manifest, fold)
        assert len(fold.test) == 8 and len(fold.dev) == 4 and len(fold.train) == 12
    report = validate_folds(manifest, folds)
    assert report.speaker_independent and report.ids_disjoint
    by_session = folds_of("leave_one_session_out", LeaveOneSessionOutConfig(dev="next_session"), manifest)
    assert {manifest[i].session for i in by_session[0].dev} == {"2"}


def gendered(manifest):
    return Manifest([u.replace(gender=u.speaker[-1]) for u in manifest])


def test_cross_gender_tests_each_gender_on_a_model_of_the_other():
    manifest = gendered(toy_manifest())
    folds = folds_of("cross_gender", CrossGenderConfig(), manifest)
    assert [f.name for f in folds] == ["test_F", "test_M"]
    for fold in folds:
        assert_partition(manifest, fold)
        tested = {manifest[i].gender for i in fold.test}
        assert len(tested) == 1 and len(fold.test) == 12  # every speaker of one gender
        assert tested.isdisjoint({manifest[i].gender for i in (*fold.train, *fold.dev)})
        assert len({manifest[i].speaker for i in fold.dev}) == 1 and len(fold.train) == 8  # one held-out dev speaker
    assert validate_folds(manifest, folds).speaker_independent
    fraction = folds_of("cross_gender", CrossGenderConfig(dev="fraction", dev_fraction=0.25), manifest)
    assert all(len(f.dev) == 4 and len(f.train) == 8 for f in fraction)  # 2 of each label's 6
    with pytest.raises(ProtocolError, match="two genders"):
        folds_of("cross_gender", CrossGenderConfig(), Manifest([u.replace(gender="F") for u in manifest]))
    with pytest.raises(ProtocolError, match="needs a gender"):
        folds_of("cross_gender", CrossGenderConfig(), toy_manifest())


def test_leave_one_speaker_out_interlocutor():
    manifest = toy_manifest()
    folds = folds_of("leave_one_speaker_out", LeaveOneSpeakerOutConfig(dev="interlocutor"), manifest)
    assert len(folds) == 6
    first = folds[0]
    assert {manifest[i].speaker for i in first.test} == {"S1F"}
    assert {manifest[i].speaker for i in first.dev} == {"S1M"}
    assert validate_folds(manifest, folds).speaker_independent


def test_leave_one_speaker_out_next_speaker():
    folds = folds_of("leave_one_speaker_out", LeaveOneSpeakerOutConfig())
    assert [len(f.test) for f in folds] == [4] * 6


def test_random_kfold_is_flagged_and_covers_everything():
    manifest = toy_manifest()
    folds = folds_of("random_kfold", RandomKFoldConfig(folds=4, seed=1), manifest)
    assert sorted(i for f in folds for i in f.test) == sorted(manifest.ids)
    assert folds == folds_of("random_kfold", RandomKFoldConfig(folds=4, seed=1), manifest)
    report = validate_folds(manifest, folds)
    assert not report.speaker_independent
    with pytest.raises(LeakageError, match="not speaker-independent"):
        report.enforce()
    report.enforce(allow_speaker_overlap=True)


def test_holdout_and_official_splits():
    manifest = toy_manifest()
    (fold,) = folds_of("holdout_session", HoldoutSessionConfig(test_sessions=("3",), dev_fraction=0.25), manifest)
    assert {manifest[i].session for i in fold.test} == {"3"} and len(fold.dev) == 4
    (official,) = folds_of("official_splits", OfficialSplitsConfig(), manifest)
    assert {manifest[i].session for i in official.dev} == {"2"}
    with pytest.raises(ProtocolError, match="Test2"):
        folds_of("official_splits", OfficialSplitsConfig(test=("Test2",)), manifest)


def test_few_shot():
    folds = folds_of("few_shot", FewShotConfig(n_per_class=2, base=Component("leave_one_session_out", LeaveOneSessionOutConfig(dev_fraction=0.0))))
    manifest = toy_manifest()
    for fold in folds:
        labels = [manifest[i].label for i in fold.train]
        assert labels.count("a") == 2 and labels.count("b") == 2


def test_script_disjoint_has_no_script_text_in_train():
    manifest = toy_manifest()
    standard = validate_folds(manifest, folds_of("leave_one_session_out", LeaveOneSessionOutConfig(), manifest))
    assert standard.max_text_overlap == 1.0 or standard.max_text_overlap > 0
    folds = folds_of("script_disjoint", ScriptDisjointConfig(dev_fraction=0.0), manifest)
    report = validate_folds(manifest, folds)
    assert report.max_text_overlap == 0.0 and report.speaker_independent


def test_script_disjoint_on_iemocap_mini(iemocap_mini):
    manifest = prepare_iemocap(iemocap_mini, out_of_scale="clip").filter(lambda u: u.label is not None)
    folds = folds_of("script_disjoint", ScriptDisjointConfig(), manifest)
    for fold in folds:
        scripted_test = {manifest[i].metadata["script"] for i in fold.test if manifest[i].metadata["scripted"]}
        scripted_train = {manifest[i].metadata["script"] for i in fold.train if manifest[i].metadata["scripted"]}
        assert not scripted_test & scripted_train


def test_validator_rejects_leaks():
    manifest = toy_manifest()
    leaking = [Fold("bad", train=("S1F_0", "S2F_0"), dev=(), test=("S1F_1",))]
    with pytest.raises(LeakageError, match="speakers S1F"):
        validate_folds(manifest, leaking).enforce()
    shared = [Fold("bad", train=("S1F_0",), dev=(), test=("S1F_0",))]
    with pytest.raises(LeakageError, match="more than one"):
        validate_folds(manifest, shared).enforce(allow_speaker_overlap=True)
    unknown = [Fold("bad", train=("nope",), dev=(), test=("S1F_0",))]
    with pytest.raises(LeakageError, match="not in the manifest"):
        validate_folds(manifest, unknown).enforce()


def test_speakers_are_told_apart_per_corpus():
    manifest = Manifest([Utterance("x", speaker="03", corpus="emodb"), Utterance("y", speaker="03", corpus="ravdess")])
    assert validate_folds(manifest, [Fold("f", ("x",), (), ("y",))]).speaker_independent


def test_normalize_text():
    assert normalize_text("Hello, WORLD! [LAUGHTER]") == "hello world"


def test_protocol_errors():
    with pytest.raises(ProtocolError, match="needs a session"):
        folds_of("leave_one_session_out", LeaveOneSessionOutConfig(), Manifest([Utterance("a", speaker="x")]))
