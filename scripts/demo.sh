#!/usr/bin/env bash
# Set up (idempotent) and run the main job on the embedded default data. Extra arguments go to dynaflip-demo.
# It runs from the checkout's root, so the default output_dir (outputs/demo) lands there; the recipes ship with
# the package (configs/ installs as dynaflip.configs), so dynaflip-demo alone also works from any folder.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
venv="${DYNAFLIP_VENV:-.venv}"
export MUJOCO_GL="${MUJOCO_GL:-egl}" PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-egl}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$venv/bin/dynaflip-demo" "$@"
