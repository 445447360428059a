#!/usr/bin/env bash
# Build the website into _build/html, strictly: any Sphinx warning fails the build.
# Notebooks are rendered with their committed outputs (nbval checks those outputs in the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The pinned numerics (scripts/numerics.env). The build renders the committed outputs and executes
# nothing, but should execution ever be switched on, it runs under the same settings as the tests.
source scripts/numerics.sh

# MathJax is served from the site itself, so equations render with no internet.
rm -rf book/_static/vendor
mkdir -p book/_static/vendor
cp -r node_modules/mathjax/es5 book/_static/vendor/mathjax

rm -rf _build/html _build/.doctrees
.venv/bin/jupyter-book build . -W -n --keep-going
echo "book: open _build/html/index.html"
