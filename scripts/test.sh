#!/usr/bin/env bash
# Every test: bncourse against PyTorch/Keras, notebook hygiene, nbval re-execution of every
# notebook, the type check, and the strict book build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# TensorFlow's C++ logging must be off before it is imported, in tests and in notebook kernels.
export TF_CPP_MIN_LOG_LEVEL=3 TF_ENABLE_ONEDNN_OPTS=0 PYTHONHASHSEED=0

echo "== type check"
.venv/bin/mypy
echo "== unit tests, notebook hygiene, nbval"
.venv/bin/python -m pytest tests book --nbval --nbval-current-env \
    --nbval-sanitize-with tests/nbval_sanitize.cfg \
    --cov=bncourse --cov-report=term "$@"
echo "== strict book build"
bash scripts/build-book.sh
