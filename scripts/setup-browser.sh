#!/usr/bin/env bash
# The browser tests drive Debian's chromium (never a browser downloaded by a test tool). Install it when
# it is missing; that needs root and apt-get. Without them the browser tests are skipped with a one-line
# reason, unless CI=true, where a missing browser is an error.
set -euo pipefail
command -v chromium > /dev/null && exit 0
if [[ "$(id -u)" == 0 ]] && command -v apt-get > /dev/null; then
    echo "setup: installing Debian's chromium for the browser tests"
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null; then
        exit 0
    fi
    why="apt-get install chromium failed"
else
    why="chromium is missing and installing it needs root and apt-get"
fi
if [[ "${CI:-}" == "true" ]]; then
    echo "setup: $why; CI=true requires the browser tests" >&2
    exit 1
fi
echo "setup: $why: the browser tests will be skipped"
