"""Models: plain torch modules, one per file, registered by name."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "acoustic_lstm": [
        "AcousticLSTM",
    ],
    "attention_bilstm": [
        "AttentionBiLSTM",
    ],
    "base": [
        "EmotionModel",
    ],
    "classic": [
        "ClassicModel",
    ],
    "configs": [
        "AcousticLSTMConfig",
        "AttentionBiLSTMConfig",
        "CNN14Config",
        "LogisticRegressionConfig",
        "MLPConfig",
        "PoolingConfig",
        "ResNet34Config",
        "SSLFinetuneConfig",
        "SVMConfig",
    ],
    "inputs": [
        "InputSpec",
        "expect_kinds",
    ],
    "cnn14": [
        "CNN14",
    ],
    "mlp": [
        "MLP",
    ],
    "pooling": [
        "PoolingHead",
    ],
    "resnet34": [
        "ResNet34",
    ],
    "ssl_finetune": [
        "SSLFinetune",
    ],
    "standardize": [
        "Standardizer",
        "SystemModel",
    ],
})
