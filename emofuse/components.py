"""Every registered component, by name: the one place to add a corpus, a protocol, a front-end,
a model, a fusion or an ASR engine.

Each name maps to the ``"module:object"`` of its builder, imported the first time the name is
used (see :mod:`emofuse.registry`). This module imports nothing heavy, so configs are checked
against the names here before any model code loads.
"""

from __future__ import annotations

from emofuse.registry import Registry

CORPORA: Registry = Registry("corpus", {
    "iemocap": "emofuse.data.corpora.iemocap:read_iemocap",
    "msp_podcast": "emofuse.data.corpora.msp_podcast:read_msp_podcast",
    "emodb": "emofuse.data.corpora.emodb:read_emodb",
    "ravdess": "emofuse.data.corpora.ravdess:read_ravdess",
    "cremad": "emofuse.data.corpora.cremad:read_cremad",
    "manifest": "emofuse.data.corpora.generic:read_manifest",
    "semeval": "emofuse.data.corpora.semeval:read_semeval",
    "goemotions": "emofuse.data.corpora.goemotions:read_goemotions",
    "emobank": "emofuse.data.corpora.emobank:read_emobank",
    "meld": "emofuse.data.corpora.meld:read_meld",
    "paired": "emofuse.data.corpora.paired:read_paired",
}, group="emofuse.corpora")

PROTOCOLS: Registry = Registry("protocol", {
    "leave_one_session_out": "emofuse.data.protocols:leave_one_session_out",
    "leave_one_speaker_out": "emofuse.data.protocols:leave_one_speaker_out",
    "random_kfold": "emofuse.data.protocols:random_kfold",
    "holdout_session": "emofuse.data.protocols:holdout_session",
    "official_splits": "emofuse.data.protocols:official_splits",
    "few_shot": "emofuse.data.protocols:few_shot",
    "script_disjoint": "emofuse.data.protocols:script_disjoint",
    "cross_gender": "emofuse.data.protocols:cross_gender",
}, group="emofuse.protocols")

FEATURES: Registry = Registry("front-end", {
    "logmel": "emofuse.audio.logmel:LogMel",
    "logmel_stats": "emofuse.audio.logmel:LogMelStats",
    "opensmile": "emofuse.audio.opensmile:OpenSmile",
    "is09_windows": "emofuse.audio.opensmile:IS09Windows",
    "pyaudioanalysis": "emofuse.audio.pyaudioanalysis:PyAudioAnalysis",
    "ssl": "emofuse.audio.ssl:SSLFeatures",
    "resemblyzer": "emofuse.audio.speaker:Resemblyzer",
    "robust_functionals": "emofuse.audio.functionals:RobustFunctionals",
    "text_embedding": "emofuse.text.lm:TextEmbedding",
    "onnx_text_embedding": "emofuse.text.onnx_embedding:OnnxTextEmbedding",
    "word_vectors": "emofuse.text.wordvectors:WordVectors",
}, group="emofuse.features", configs={
    # front-ends whose modules import torch: their configs are checked without it
    "ssl": "emofuse.pretrained:SSLConfig",
    "resemblyzer": "emofuse.pretrained:ResemblyzerConfig",
    "text_embedding": "emofuse.pretrained:TextEmbeddingConfig",
})

MODELS: Registry = Registry("model", {
    "mlp": "emofuse.models.mlp:build_mlp",
    "svm": "emofuse.models.classic:build_svm",
    "logistic_regression": "emofuse.models.classic:build_logistic_regression",
    "attention_bilstm": "emofuse.models.attention_bilstm:build_attention_bilstm",
    "cnn14": "emofuse.models.cnn14:build_cnn14",
    "resnet34": "emofuse.models.resnet34:build_resnet34",
    "pooling": "emofuse.models.pooling:build_pooling",
    "acoustic_lstm": "emofuse.models.acoustic_lstm:build_acoustic_lstm",
    "ssl_finetune": "emofuse.models.ssl_finetune:build_ssl_finetune",
    "lm_classifier": "emofuse.models.lm_classifier:build_lm_classifier",
    "text_lstm": "emofuse.models.text_lstm:build_text_lstm",
    # model fusion: models with several inputs, or built over trained member systems
    "concat": "emofuse.fusion.concat:build_concat",
    "attention_alignment": "emofuse.fusion.alignment:build_attention_alignment",
    "sfcnn14": "emofuse.fusion.conditioning:build_sfcnn14",
    "mfcnn14": "emofuse.fusion.conditioning:build_mfcnn14",
    "classification_block": "emofuse.fusion.block:build_classification_block",
}, group="emofuse.models", configs={
    # the config classes, importable without torch: configs are checked before model code loads
    "mlp": "emofuse.models.configs:MLPConfig",
    "svm": "emofuse.models.configs:SVMConfig",
    "logistic_regression": "emofuse.models.configs:LogisticRegressionConfig",
    "attention_bilstm": "emofuse.models.configs:AttentionBiLSTMConfig",
    "cnn14": "emofuse.models.configs:CNN14Config",
    "resnet34": "emofuse.models.configs:ResNet34Config",
    "pooling": "emofuse.models.configs:PoolingConfig",
    "acoustic_lstm": "emofuse.models.configs:AcousticLSTMConfig",
    "ssl_finetune": "emofuse.models.configs:SSLFinetuneConfig",
    "lm_classifier": "emofuse.models.configs:LMClassifierConfig",
    "text_lstm": "emofuse.models.configs:TextLSTMConfig",
    "concat": "emofuse.models.configs:ConcatFusionConfig",
    "attention_alignment": "emofuse.models.configs:AttentionAlignmentConfig",
    "sfcnn14": "emofuse.models.configs:ConditionedCNN14Config",
    "mfcnn14": "emofuse.models.configs:ConditionedCNN14Config",
    "classification_block": "emofuse.models.configs:ClassificationBlockConfig",
})

SCORE_FUSIONS: Registry = Registry("score fusion", {
    "late": "emofuse.fusion.late:LateFusion",
}, group="emofuse.score_fusions")

TRANSCRIBERS: Registry = Registry("ASR engine", {
    "pocketsphinx": "emofuse.asr.pocketsphinx:PocketsphinxTranscriber",
    "whisper": "emofuse.asr.whisper:WhisperTranscriber",
}, group="emofuse.transcribers")

#: Inputs a system can read without a front-end, and their modality.
RAW_INPUTS: dict[str, str] = {"text": "text", "waveform": "audio"}

__all__ = ["CORPORA", "FEATURES", "MODELS", "PROTOCOLS", "RAW_INPUTS", "SCORE_FUSIONS", "TRANSCRIBERS"]
