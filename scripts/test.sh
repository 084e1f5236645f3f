#!/usr/bin/env bash
# Runs the whole test suite. Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
if [ -z "${CBL_JAX_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 \
    && ! command -v chromium-browser >/dev/null 2>&1 \
    && ! command -v google-chrome >/dev/null 2>&1; then
  echo "Note: the demo's browser tests skip without Chromium" \
       "(Debian/Ubuntu: apt-get install chromium)."
fi
exec .venv/bin/python -m pytest -n 2 --dist worksteal --durations=15 "$@"
