#!/usr/bin/env bash
# Runs the whole test suite. Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
exec .venv/bin/python -m pytest -n 2 --durations=15 "$@"
