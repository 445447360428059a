#!/usr/bin/env bash
# Every test: the type check, the strict book build, then in one pytest run bncourse against
# PyTorch/Keras/finite differences, notebook hygiene, the built site (as HTML and in headless
# chromium; screenshots land in _build/screenshots/), and nbval re-execution of every notebook.
# Extra arguments go to pytest (e.g. -k torch, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup-browser.sh

# TensorFlow's C++ logging must be off before it is imported, in tests and in notebook kernels.
export TF_CPP_MIN_LOG_LEVEL=3 TF_ENABLE_ONEDNN_OPTS=0 PYTHONHASHSEED=0

echo "== type check (mypy --strict)"
.venv/bin/mypy

echo "== strict book build (the site tests read _build/html)"
bash scripts/build-book.sh > _build.log 2>&1 || { cat _build.log; exit 1; }
tail -n 3 _build.log
rm -f _build.log

echo "== unit tests, notebook hygiene, site (HTML and browser), nbval"
.venv/bin/python -m pytest tests book --nbval --nbval-current-env \
    --nbval-sanitize-with tests/nbval_sanitize.cfg \
    --cov=bncourse --cov-report=term "$@"
