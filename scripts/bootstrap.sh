# Sourced by the other scripts: makes .venv/ in the repository root if it is
# missing and (re)installs the package whenever pyproject.toml changes.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv/ with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.cbl_jax-installed"
want="$(cksum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "Installing cbl_jax and its dependencies into .venv/ (a few minutes the first time)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[test]'
  echo "$want" > "$stamp"
fi
# Nothing here imports TensorFlow; where a user's environment has it, other
# libraries may load it: keep it quiet.
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
export PYTHONUNBUFFERED=1
