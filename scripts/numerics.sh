# Sourced (from the repository root) by every script that runs notebooks: exports the pinned numerical
# environment of scripts/numerics.env, with `perturbed` also scripts/numerics-perturbed.env on top, and
# points Matplotlib at the font cache that scripts/setup.sh built in .venv (scripts/numerics.py).
set -a
source scripts/numerics.env
if [[ "${1:-}" == "perturbed" ]]; then
    source scripts/numerics-perturbed.env
fi
set +a
export MPLCONFIGDIR="$PWD/.venv/matplotlib"
