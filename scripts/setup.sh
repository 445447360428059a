#!/usr/bin/env bash
# Create .venv and install requirements.txt and bncourse (editable) into it, and the npm packages
# of package.json into node_modules. Idempotent: re-installs only when a requirements or lock file changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
stamp=.venv/.installed
want="$(cat requirements.txt requirements-gpu.txt pyproject.toml package-lock.json | sha256sum | cut -d' ' -f1)"

if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" || ! -d node_modules/mathjax ]]; then
    echo "setup: installing requirements.txt and bncourse into .venv"
    .venv/bin/python -m pip install --quiet --upgrade pip
    # --no-compile: byte-compiling every module of torch and TensorFlow up front takes about a minute of CPU;
    # Python compiles (and caches) the modules actually imported, on first import.
    .venv/bin/python -m pip install --quiet --no-compile -r requirements.txt
    .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
    # Triton beside, not inside, the environment (see requirements-gpu.txt): only the Triton tests load it.
    .venv/bin/python -m pip install --quiet --no-compile --no-deps --upgrade --target .venv/triton -r requirements-gpu.txt
    # Front-end files: MathJax (vendored into the site) and axe-core (browser tests), from npm.
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
fi
# The Jupyter kernel 'bncourse' that every notebook names: this .venv with scripts/numerics.env.
.venv/bin/python scripts/numerics.py install-kernel
