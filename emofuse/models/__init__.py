"""Models: plain torch modules, one per file, registered by name."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "acoustic_lstm": [
        "AcousticLSTM",
        "AcousticLSTMConfig",
    ],
    "attention_bilstm": [
        "AttentionBiLSTM",
        "AttentionBiLSTMConfig",
    ],
    "base": [
        "EmotionModel",
    ],
    "classic": [
        "LogisticRegressionConfig",
        "SVMConfig",
        "ClassicModel",
    ],
    "inputs": [
        "InputSpec",
        "expect_kinds",
    ],
    "cnn14": [
        "CNN14",
        "CNN14Config",
    ],
    "mlp": [
        "MLP",
        "MLPConfig",
    ],
    "pooling": [
        "PoolingConfig",
        "PoolingHead",
    ],
    "resnet34": [
        "ResNet34",
        "ResNet34Config",
    ],
    "ssl_finetune": [
        "SSLFinetune",
        "SSLFinetuneConfig",
    ],
    "standardize": [
        "Standardizer",
        "SystemModel",
    ],
})
