#!/usr/bin/env bash
# Every test: the type check, the strict book build, then in one pytest run bncourse against
# PyTorch/Keras/finite differences, notebook hygiene, the built site (as HTML and in headless
# chromium; screenshots land in _build/screenshots/), and nbval re-execution of every notebook under the
# pinned numerics; finally nbval once more under a deliberately perturbed numerical configuration.
# Extra arguments go to both pytest runs (e.g. -k torch, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup-browser.sh

# The pinned numerical environment (BLAS kernels, SIMD, threads, TensorFlow switches): see the file.
source scripts/numerics.sh
nbval=(--nbval --nbval-sanitize-with tests/nbval_sanitize.cfg)
# Two pytest workers, one per core (every kernel and test is single-threaded); a file stays on one worker,
# so a notebook's cells run in order in one kernel.
parallel=(-n 2 --dist loadfile)

echo "== type check (mypy --strict)"
.venv/bin/mypy

echo "== strict book build (the site tests read _build/html)"
bash scripts/build-book.sh > _build.log 2>&1 || { cat _build.log; exit 1; }
tail -n 3 _build.log
rm -f _build.log

# nbval runs each notebook in the kernel its metadata names: 'bncourse', whose kernel.json carries
# scripts/numerics.env (scripts/setup.sh installs it into .venv).
echo "== unit tests, notebook hygiene, site (HTML and browser), nbval (pinned numerics)"
.venv/bin/python -m pytest tests book "${nbval[@]}" "${parallel[@]}" --cov=bncourse --cov-report=term "$@"

# Every printed number must survive round-off: the same notebooks, other BLAS kernels, other SIMD loops,
# more threads. A kernel spec's env would override these, so this pass uses the current environment.
echo "== nbval under a perturbed numerical configuration (scripts/numerics-perturbed.env)"
source scripts/numerics.sh perturbed
status=0
.venv/bin/python -m pytest book "${nbval[@]}" "${parallel[@]}" --nbval-current-env -p no:cacheprovider "$@" || status=$?
# 5 = every notebook cell deselected by the extra arguments (e.g. -k torch): nothing to re-check.
[[ $status == 0 || $status == 5 ]] || exit "$status"
