#!/usr/bin/env bash
# Install Model Inspector into ./.venv on a fresh machine: system libraries Qt needs (when root with apt),
# a virtual environment, torch pinned FIRST (an unpinned torch pulls a multi-GB CUDA build), then the project.
#   TORCH_SPEC       torch requirement to install (default torch==2.13.0, the CPU wheel)
#   TORCH_INDEX_URL  package index for torch only (a CUDA wheel index; see README)
#   VENV         virtual environment folder (default .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
PYTHON=${PYTHON:-python3}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  for lib in libGL.so.1 libEGL.so.1 libxkbcommon.so.0 libfontconfig.so.1 libdbus-1.so.3 libxcb-cursor.so.0; do
    ldconfig -p | grep -q "$lib" || need+=("$lib")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "install.sh: installing system libraries for Qt (${need[*]})" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3 \
      libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxkbcommon-x11-0 >/dev/null
  fi
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/python" -m pip install -q "$TORCH_SPEC" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
"$VENV/bin/python" -m pip install -q -e ".[dev]"
echo "install.sh: ready — $VENV/bin/model-inspector --help" >&2
