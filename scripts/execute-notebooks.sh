#!/usr/bin/env bash
# For authors: execute notebooks top to bottom, in place, in the kernel 'bncourse' (the pinned numerics of
# scripts/numerics.env), then check with nbval that every output survives the perturbed configuration of
# scripts/numerics-perturbed.env, as scripts/test.sh will. Commit the notebooks when both steps pass.
#   bash scripts/execute-notebooks.sh                 # every notebook in book/
#   bash scripts/execute-notebooks.sh motivation ...  # some of them
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh > /dev/null
if [[ $# == 0 ]]; then
    notebooks=(book/*.ipynb)
else
    notebooks=("${@/#/book/}") && notebooks=("${notebooks[@]/%/.ipynb}")
fi
for notebook in "${notebooks[@]}"; do
    echo "== executing $notebook"
    .venv/bin/jupyter execute --inplace --kernel_name=bncourse "$notebook" 2>&1 | grep -v '^\[NbClientApp\]' || true
done
echo "== nbval under the perturbed configuration"
set -a; source scripts/numerics.env; source scripts/numerics-perturbed.env; set +a
.venv/bin/python -m pytest "${notebooks[@]}" --nbval --nbval-current-env \
    --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -q
