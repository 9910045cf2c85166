#!/usr/bin/env bash
# The papers' full settings on one GPU, or (--dry-run) one training step of every model at full size on CPU.
# See benchmarks/gpu_full.py for what runs; results go to benchmarks/results/gpu_full*.{json,md}.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
if [[ "${1:-}" != "--dry-run" ]]; then
    "$PYTHON" -c "import torch; assert torch.cuda.is_available(), 'no GPU: use --dry-run on CPU'; print(torch.cuda.get_device_name(0))"
fi
exec "$PYTHON" benchmarks/gpu_full.py "$@"
