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
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for notebook in "${notebooks[@]}"; do
    echo "== executing $notebook"
    .venv/bin/jupyter execute --inplace --kernel_name=bncourse "$notebook" > "$log" 2>&1 || { cat "$log"; exit 1; }
done
# nbclient stamps each cell with execution times: volatile, so not committed.
.venv/bin/python - "${notebooks[@]}" <<'PY'
import sys, nbformat
for path in sys.argv[1:]:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(notebook, path)
PY
echo "== nbval under the perturbed configuration"
source scripts/numerics.sh perturbed
.venv/bin/python -m pytest "${notebooks[@]}" --nbval --nbval-current-env -n 2 --dist loadfile \
    --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -q
