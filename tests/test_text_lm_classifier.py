"""The fine-tuned / frozen language-model classifier on raw text (tiny local BERT)."""


import pytest
import torch

from emofuse.components import MODELS
from emofuse.config import ConfigError
from emofuse.config import parse
from emofuse.experiment import load_experiment
from emofuse.models.inputs import InputSpec
from emofuse.models.lm_classifier import LMClassifierConfig
from emofuse.rundir import RunDirectory
from emofuse.training import RunError
from emofuse.training import run_experiment
from emofuse.training.lightning import EmotionModule

TEXT = [InputSpec("text", "text", "text")]


def build(tiny_bert, output_size=4, **options):
    return MODELS.build("lm_classifier", LMClassifierConfig(model=str(tiny_bert), **options), TEXT, output_size)


def test_forward_shapes_pooling_and_embedding(tiny_bert):
    texts = ["wonderful great news", "get out now", ""]  # an empty transcript is a valid input
    for pooling in ("cls", "mean"):
        model = build(tiny_bert, pooling=pooling, hidden_size=16).eval()
        assert model([(texts, None)]).shape == (3, 4)
        assert model.embed([(texts, None)]).shape == (3, 16) and model.embedding_size == 16
    linear = build(tiny_bert, output_size=3, output_activation="tanh").eval()
    outputs = linear([(texts, None)])
    assert outputs.shape == (3, 3) and outputs.abs().max() <= 1.0
    assert linear.embedding_size == 32  # the encoder's hidden size: a linear head on the pooled output


def test_mean_pooling_ignores_padding(tiny_bert):
    model = build(tiny_bert, pooling="mean").eval()
    alone = model.encode(["great news"])
    padded = model.encode(["great news", "i miss her so much it hurts today"])[:1]
    torch.testing.assert_close(alone, padded, atol=1e-5, rtol=1e-4)


def test_truncation_and_bad_input(tiny_bert):
    model = build(tiny_bert, max_length=8).eval()
    very_long = " ".join(["wonderful"] * 5000)
    non_english = "Das ist wunderbar, ich liebe es! 这是个好消息"
    outputs = model([([very_long, non_english, "   "], None)])
    assert outputs.shape == (3, 4) and torch.isfinite(outputs).all()
    with pytest.raises(TypeError, match="text 1 of the batch"):
        model([(["fine", None], None)])
    with pytest.raises(ValueError, match="takes 1 input"):
        MODELS.build("lm_classifier", LMClassifierConfig(model=str(tiny_bert)), TEXT * 2, 4)
    with pytest.raises(ValueError, match="is a vector, expected text"):
        MODELS.build("lm_classifier", LMClassifierConfig(model=str(tiny_bert)), [InputSpec("x", "text", "vector", 8)], 4)
    with pytest.raises(ValueError, match="layer 7 does not exist"):
        build(tiny_bert, layer=7)


def test_config_validation():
    for bad in ({"max_length": 1}, {"dropout": 1.0}, {"l2": -1.0}, {"hidden_size": -2}):
        with pytest.raises(ValueError):
            LMClassifierConfig(**bad)
    choices = (("pooling", "max"), ("activation", "swish"), ("output_activation", "sigmoid"))
    for key, value in choices:
        with pytest.raises(ConfigError, match=f"{key}: '{value}' is not one of"):
            parse(LMClassifierConfig, {key: value})


def test_frozen_encoder_has_no_gradients_and_no_dropout(tiny_bert):
    model = build(tiny_bert, fine_tune=False, hidden_size=8).train()
    assert not model.encoder.training and model.training
    model([(["great news", "get out"], None)]).sum().backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert model.output.weight.grad is not None
    groups = model.parameter_groups(1e-3)
    assert not any(g.get("pretrained") for g in groups)
    assert sum(len(g["params"]) for g in groups) == len([p for p in model.parameters() if p.requires_grad])


def test_fine_tuning_can_keep_the_word_embeddings(tiny_bert):
    """With ``train_word_embeddings: false`` the word-embedding table keeps its pretrained values
    (no gradient, no update) while every other encoder layer trains; by default it trains too."""
    texts = ["great news", "get out"]
    model = build(tiny_bert, train_word_embeddings=False).train()
    table = model.encoder.get_input_embeddings().weight
    model([(texts, None)]).sum().backward()
    assert table.grad is None and not table.requires_grad
    assert model.encoder.embeddings.position_embeddings.weight.grad is not None
    assert all(p.grad is not None for p in model.encoder.encoder.parameters())
    assert all(table is not p for g in model.parameter_groups(1e-3) for p in g["params"])
    trained = build(tiny_bert).train()
    trained([(texts, None)]).sum().backward()
    assert trained.encoder.get_input_embeddings().weight.grad is not None


def test_unfrozen_classification_block_keeps_what_its_members_keep(tiny_bert):
    """Unfreezing a fine-tuned language-model member trains its encoder again, but not the word
    embeddings or the unused pooler that the member itself never trained."""
    from emofuse.fusion.block import ClassificationBlock
    from emofuse.models.configs import ClassificationBlockConfig
    from emofuse.models.standardize import SystemModel

    member = SystemModel(build(tiny_bert, pooling="mean", train_word_embeddings=False), [None])
    block = ClassificationBlock(ClassificationBlockConfig(hidden_sizes=[8], unfreeze_after=1), TEXT, 4, [member])
    encoder = member.model.encoder
    assert not any(p.requires_grad for p in member.parameters())
    block.set_epoch(1)
    assert all(p.requires_grad for p in encoder.encoder.parameters())
    assert not encoder.get_input_embeddings().weight.requires_grad
    assert not any(p.requires_grad for p in encoder.pooler.parameters())
    assert member.model.output.weight.requires_grad


def test_encoder_dropout_uses_emofuse_masks_in_training_only(tiny_bert):
    from emofuse.models.blocks.dropout import Dropout

    model = build(tiny_bert, pooling="mean")
    layers = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Dropout)]
    assert layers and all(type(m) is Dropout for m in layers)
    texts = ["wonderful great news today", "get out of here now"]
    model.eval()
    torch.testing.assert_close(model.encode(texts), model.encode(texts))  # no dropout in evaluation
    model.train()
    torch.manual_seed(0)
    first = model.encode(texts)
    torch.manual_seed(0)
    assert torch.equal(first, model.encode(texts))  # torch's seed fixes the masks
    assert not torch.equal(first, model.encode(texts))
    assert type(build(tiny_bert, fine_tune=False).encoder.embeddings.dropout) is torch.nn.Dropout


def test_parameter_groups_mark_the_encoder_and_penalise_the_hidden_layer(tiny_bert):
    model = build(tiny_bert, hidden_size=16, l2=0.03)
    groups = model.parameter_groups(3e-5)
    pretrained = [g for g in groups if g.get("pretrained")]
    trainable = [p for p in model.encoder.parameters() if p.requires_grad]  # the unused pooler is frozen
    assert len(trainable) < len(list(model.encoder.parameters()))
    assert len(pretrained) == 1 and len(pretrained[0]["params"]) == len(trainable)
    penalised = [g for g in groups if "weight_decay" in g]
    assert len(penalised) == 1 and penalised[0]["weight_decay"] == pytest.approx(0.06)
    assert penalised[0]["params"][0] is model.hidden[0].weight
    every = [id(p) for g in groups for p in g["params"]]
    assert len(every) == len(set(every)) == len([p for p in model.parameters() if p.requires_grad])


def test_l2_as_weight_decay_equals_the_keras_penalty(tiny_bert):
    """Adam with weight decay 2c on W takes the same step as Adam on loss + c * ||W||^2."""
    torch.manual_seed(0)
    weight = torch.randn(4, 3)
    data = torch.randn(5, 3)

    def step(decay: bool) -> torch.Tensor:
        w = torch.nn.Parameter(weight.clone())
        optimizer = torch.optim.Adam([{"params": [w], "weight_decay": 0.06 if decay else 0.0}], lr=0.1)
        loss = (data @ w.T).square().mean() + (0.0 if decay else 0.03 * w.square().sum())
        loss.backward()
        optimizer.step()
        return w.detach()

    torch.testing.assert_close(step(True), step(False))


def experiment(manifest, tiny_bert, tmp_path, model, training, **changes):
    config = {
        "name": "text",
        "data": {"manifest": str(manifest)},
        "protocol": {"name": "leave_one_session_out", "dev_fraction": 0.25},
        "extraction": {"cache_dir": str(tmp_path / "cache")},
        "systems": {"text": {"inputs": ["text"], "model": {"name": "lm_classifier", "model": str(tiny_bert), **model},
                             "training": training}},
        **changes,
    }
    return load_experiment(config)


def test_fine_tuning_runs_and_uses_encoder_learning_rate(tmp_path, synthetic_corpus, tiny_bert, monkeypatch):
    seen = []
    original = EmotionModule.configure_optimizers

    def spy(self):
        result = original(self)
        seen.append([group["lr"] for group in result["optimizer"].param_groups])
        return result

    monkeypatch.setattr(EmotionModule, "configure_optimizers", spy)
    config = experiment(synthetic_corpus, tiny_bert, tmp_path,
                        {"max_length": 48, "hidden_size": 16, "dropout": 0.2, "l2": 0.03},
                        {"max_epochs": 2, "batch_size": 8, "learning_rate": 1e-3, "encoder_learning_rate": 1e-4,
                         "selection": "last"})
    result = run_experiment(config, tmp_path / "run", progress=False)
    assert result.summary["runs"].tolist() == [2]
    assert seen and seen[0][0] == pytest.approx(1e-4) and seen[0][-1] == pytest.approx(1e-3)
    spec = RunDirectory(tmp_path / "run").fold("text", 0, "session_1").load_system().spec
    assert spec.model.name == "lm_classifier" and spec.inputs[0].kind == "text"


def test_regression_head_on_dimensions(tmp_path, synthetic_corpus, tiny_bert):
    for loss in ("ccc", "mse"):
        config = experiment(synthetic_corpus, tiny_bert, tmp_path, {"pooling": "mean", "output_activation": "tanh"},
                            {"max_epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "scheduler": "linear_warmup"},
                            task={"type": "dimensional", "loss": loss})
        result = run_experiment(config, tmp_path / f"run_{loss}", progress=False)
        assert result.summary["CCC_mean_mean"].notna().all()


def test_missing_text_names_the_utterance(tmp_path, synthetic_corpus, tiny_bert):
    import pandas as pd

    frame = pd.read_csv(synthetic_corpus)
    frame.loc[5, "text"] = "   "
    frame.to_csv(synthetic_corpus, index=False)
    config = experiment(synthetic_corpus, tiny_bert, tmp_path, {}, {"max_epochs": 1, "selection": "last"})
    with pytest.raises(RunError, match=rf"{frame.loc[5, 'id']}: utterance .* has no reference transcript"):
        run_experiment(config, tmp_path / "run", progress=False)
    asr = experiment(synthetic_corpus, tiny_bert, tmp_path, {}, {"max_epochs": 1, "selection": "last"},
                     data={"manifest": str(synthetic_corpus), "transcript": "asr"})
    with pytest.raises(RunError, match="has no asr transcript"):
        run_experiment(asr, tmp_path / "run_asr", progress=False)


def test_the_text_benchmark_config_parses():
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "configs" / "text_iemocap_mini.yaml"
    config = load_experiment(path)
    assert {s.model.name for s in config.systems.values()} == {"lm_classifier", "text_lstm"}
    assert config.systems["iemonet"].model.config.l2 == 0.03


def test_bimodal_run_with_missing_text_names_the_utterance(tmp_path, synthetic_corpus, tiny_bert):
    import pandas as pd

    frame = pd.read_csv(synthetic_corpus)
    frame.loc[2, "text"] = None
    frame.to_csv(synthetic_corpus, index=False)
    config = experiment(synthetic_corpus, tiny_bert, tmp_path, {}, {"max_epochs": 1, "selection": "last"},
                        features={"logmel": {"name": "logmel_stats", "n_mels": 20}})
    systems = {"audio": {"inputs": ["logmel"], "model": {"name": "mlp"}, "training": {"max_epochs": 1}},
               "text": {"inputs": ["text"], "model": {"name": "lm_classifier", "model": str(tiny_bert)},
                        "training": {"max_epochs": 1}},
               "fused": {"members": ["audio", "text"], "fusion": {"name": "late", "method": "average"}}}
    config = load_experiment({**_plain(config), "systems": systems})
    with pytest.raises(RunError, match=rf"{frame.loc[2, 'id']}: utterance .* has no reference transcript"):
        run_experiment(config, tmp_path / "run", progress=False)


def _plain(config):
    from emofuse.config import to_dict

    data = to_dict(config)
    data.pop("systems")
    return data


@pytest.fixture(scope="module")
def tiny_xlnet(tmp_path_factory):
    """A 2-layer XLNet (``<cls>`` last, padding on the left), saved like a hub model."""
    import tokenizers
    import transformers
    from tokenizers import models
    from tokenizers import processors

    directory = tmp_path_factory.mktemp("tiny_xlnet")
    tokens = ["<unk>", "<s>", "</s>", "<cls>", "<sep>", "<pad>", "<mask>", *"great news i miss her get out now".split()]
    tokenizer = tokenizers.Tokenizer(models.Unigram([(token, -1.0) for token in tokens], unk_id=0))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A <sep> <cls>", pair="$A <sep> $B <sep> <cls>", special_tokens=[("<sep>", 4), ("<cls>", 3)])
    transformers.XLNetTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", sep_token="<sep>", cls_token="<cls>", pad_token="<pad>",
        mask_token="<mask>", bos_token="<s>", eos_token="</s>", padding_side="left",
    ).save_pretrained(directory)
    torch.manual_seed(0)
    transformers.XLNetModel(transformers.XLNetConfig(vocab_size=len(tokens), d_model=16, n_layer=2, n_head=2,
                                                     d_inner=32)).save_pretrained(directory)
    return directory


def test_xlnet_pools_its_classification_token_at_the_end(tiny_xlnet):
    model = build(tiny_xlnet, pooling="cls").eval()
    texts = ["great news", "i miss her now get out"]
    batch = model.tokenizer(texts, padding=True, return_tensors="pt")
    assert (batch["input_ids"][:, -1] == model.tokenizer.cls_token_id).all()  # left padding: <cls> is last
    with torch.no_grad():
        expected = model.encoder(**batch).last_hidden_state[:, -1]
    torch.testing.assert_close(model.encode(texts), expected)
    assert model([(texts, None)]).shape == (2, 4)
