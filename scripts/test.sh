#!/usr/bin/env bash
# Set up (idempotent) and run the checks: ruff, then the test suite. Extra arguments go to pytest.
#   scripts/test.sh                 # everything, as CI runs it
#   scripts/test.sh -k objective    # a subset
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev || exit 1
venv="${DYNAFLIP_VENV:-.venv}"
# Offscreen MuJoCo on the CPU; models only from local files (nothing is fetched at test time).
export MUJOCO_GL="${MUJOCO_GL:-egl}" PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-egl}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$venv/bin/python" -m ruff check . || exit 1
"$venv/bin/python" -m ruff format --check . || exit 1
exec "$venv/bin/python" -m pytest "$@"
