#!/usr/bin/env bash
# Trains and evaluates the embedded default (no download) into workdirs/default.
# Extra arguments go to cbl_jax.main, e.g. --config.total_steps=100.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
exec .venv/bin/python -m cbl_jax.main --config=configs/default.py --workdir="${WORKDIR:-workdirs/default}" "$@"
