#!/usr/bin/env bash
# Set up DynaFLIP on a fresh Debian machine: system libraries (apt), a virtual environment (.venv) and the
# package with its extras. Idempotent: a second run checks and returns in seconds.
#
#   scripts/setup.sh            # everything the demo needs (extras: all)
#   scripts/setup.sh --dev      # plus the test tools and a single-node Slurm (slurm-wlm, munge)
#
# Environment: DYNAFLIP_VENV (default .venv), DYNAFLIP_PYTHON (default: python3.11, else python3).
set -euo pipefail

cd "$(dirname "$0")/.."
dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    *) echo "setup.sh: unknown argument '$arg' (expected --dev)" >&2; exit 2 ;;
  esac
done

# --- system packages -------------------------------------------------------------------------------
# EGL/OSMesa: MuJoCo renders offscreen on the CPU. slurm-wlm/munge: the Slurm integration test.
apt_packages=(libegl1 libegl-mesa0 libgl1 libosmesa6)
[ "$dev" = 1 ] && apt_packages+=(slurm-wlm munge)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" != 0 ] && sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/dynaflip-apt.log 2>&1; then
    $sudo_cmd apt-get update -q >>/tmp/dynaflip-apt.log 2>&1
    $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/dynaflip-apt.log 2>&1 \
      || { echo "setup: apt-get failed, see /tmp/dynaflip-apt.log" >&2; exit 1; }
  fi
fi

# --- virtual environment ---------------------------------------------------------------------------
venv="${DYNAFLIP_VENV:-.venv}"
python="${DYNAFLIP_PYTHON:-}"
if [ -z "$python" ]; then
  if command -v python3.11 >/dev/null; then python=python3.11; else python=python3; fi
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv with $($python --version)"
  "$python" -m venv "$venv"
fi

# Reinstall only when the packaging metadata or the chosen extras change.
extras="all"
[ "$dev" = 1 ] && extras="dev"
stamp="$venv/.dynaflip-setup-$extras"
want="$(cat pyproject.toml setup.py | sha256sum | cut -c1-16)"
# [dev] contains [all]: a dev install that is up to date serves the demo too.
dev_stamp="$venv/.dynaflip-setup-dev"
if [ "$extras" = all ] && [ -f "$dev_stamp" ] && [ "$(cat "$dev_stamp")" = "$want" ]; then
  stamp="$dev_stamp"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing dynaflip[$extras] into $venv (pip; a few minutes the first time)"
  # pip, not uv/poetry: pip takes the torch/torchvision wheels that lie on the reference machine's disk.
  "$venv/bin/python" -m pip install -q --upgrade pip setuptools wheel
  "$venv/bin/python" -m pip install -q -e ".[$extras]"
  if problems="$("$venv/bin/python" -m pip check 2>&1)" \
      && [ -n "$problems" ] && [ "$problems" != "No broken requirements found." ]; then
    echo "setup: pip check found broken requirements:" >&2; echo "$problems" >&2; exit 1
  fi
  echo "$want" > "$stamp"
fi
echo "setup: ready ($venv, extras: $extras)"
