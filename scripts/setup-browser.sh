#!/usr/bin/env bash
# The browser tests drive Debian's chromium (never a browser downloaded by a test tool).
# Install it when it is missing; this needs root, as on the CI and development machines.
set -euo pipefail
if ! command -v chromium > /dev/null; then
    echo "setup: installing Debian's chromium for the browser tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
fi
