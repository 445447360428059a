#!/usr/bin/env bash
# Every test: the type check, the strict book build, then one pytest run (with coverage) of bncourse against
# PyTorch/Keras/finite differences, notebook hygiene, the built site (as HTML and in headless
# chromium; screenshots land in _build/screenshots/); nbval re-execution of every notebook under the
# pinned numerics; finally nbval once more under a deliberately perturbed numerical configuration.
# Extra arguments go to every pytest run (e.g. -k torch, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup-browser.sh
echo "== set-up done after $SECONDS s"

# The pinned numerical environment (BLAS kernels, SIMD, threads, TensorFlow switches): see the file.
source scripts/numerics.sh
nbval=(--nbval --nbval-sanitize-with tests/nbval_sanitize.cfg)
# Two pytest workers, one per core (every kernel and test is single-threaded); a file stays on one worker,
# so a notebook's cells run in order in one kernel.
parallel=(-n 2 --dist loadfile)

# The type check and the book build are single-threaded and independent: run them side by side.
echo "== type check (mypy --strict) and the Triton kernels in Triton's CPU interpreter, beside the strict book build"
# tests/gpu runs in its own process, with triton on PYTHONPATH: triton and TensorFlow cannot share a process.
# (Exit status 5: every test deselected by the extra arguments.)
(.venv/bin/mypy && { PYTHONPATH=.venv/triton BNCOURSE_REQUIRE_TRITON=1 \
    .venv/bin/python -m pytest tests/gpu -p no:cacheprovider "$@" || [[ $? == 5 ]]; }) > _mypy.log 2>&1 &
mypy_pid=$!
build_status=0
bash scripts/build-book.sh > _build.log 2>&1 || build_status=$?
mypy_status=0
wait "$mypy_pid" || mypy_status=$?
cat _mypy.log
if [[ $build_status != 0 ]]; then cat _build.log; fi
tail -n 3 _build.log
rm -f _build.log _mypy.log
[[ $mypy_status == 0 && $build_status == 0 ]] || exit 1
echo "== $SECONDS s so far"

echo "== unit tests, notebook hygiene, site (HTML and browser), with line coverage of bncourse"
.venv/bin/python -m pytest tests "${parallel[@]}" --cov=bncourse --cov-report=term "$@"
echo "== $SECONDS s so far"
# nbval runs each notebook in the kernel its metadata names: 'bncourse', whose kernel.json carries
# scripts/numerics.env (scripts/setup.sh installs it into .venv). Without coverage: under pytest-cov the
# notebooks ran about a quarter slower (27 s against 34 s for the optimization chapter), for nothing measured.
echo "== nbval (pinned numerics)"
status=0
.venv/bin/python -m pytest book "${nbval[@]}" "${parallel[@]}" -p no:cacheprovider "$@" || status=$?
# 5 = every notebook cell deselected by the extra arguments (e.g. -k torch).
[[ $status == 0 || $status == 5 ]] || exit "$status"

# Every printed number must survive round-off: the same notebooks, other BLAS kernels, other SIMD loops,
# more threads. A kernel spec's env would override these, so this pass uses the current environment.
echo "== $SECONDS s so far"
echo "== nbval under a perturbed numerical configuration (scripts/numerics-perturbed.env)"
source scripts/numerics.sh perturbed
status=0
.venv/bin/python -m pytest book "${nbval[@]}" "${parallel[@]}" --nbval-current-env -p no:cacheprovider "$@" || status=$?
[[ $status == 0 || $status == 5 ]] || exit "$status"
