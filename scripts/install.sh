#!/usr/bin/env bash
# Install Model Inspector into ./.venv on a fresh machine: system libraries Qt needs (when root with apt),
# a virtual environment, torch pinned FIRST (an unpinned torch pulls a multi-GB CUDA build), then the project.
#   TORCH_SPEC       torch requirement to install (default torch==2.13.0, the CPU wheel)
#   TORCH_INDEX_URL  package index for torch only (a CUDA wheel index; see README)
#   VENV         virtual environment folder (default .venv)
# `scripts/install.sh --qt-libs` only checks (and, as root with apt, installs) the system libraries that the
# venv's Qt platform plugins load: it runs ldd on each plugin and installs the Debian packages providing the
# libraries reported "not found" (libxcb-icccm4, libxcb-keysyms1, ... on a bare machine).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
PYTHON=${PYTHON:-python3}

# soname -> Debian package, by Debian's naming rule (libfoo.so.N -> libfooN; a name ending in a digit gets a
# dash: libdbus-1.so.3 -> libdbus-1-3), with the few exceptions Qt meets.
deb_package() {
  local so=$1 base ver
  case "$so" in
    libglib-2.0.so.*|libgobject-2.0.so.*|libgthread-2.0.so.*|libgmodule-2.0.so.*) echo libglib2.0-0; return ;;
    libGLX.so.*|libOpenGL.so.*) echo "$(echo "${so%%.so.*}" | tr '[:upper:]' '[:lower:]')0"; return ;;
  esac
  base=${so%%.so.*}; ver=${so##*.so.}; ver=${ver%%.*}
  base=$(echo "$base" | tr '[:upper:]' '[:lower:]')
  case "$base" in *[0-9]) echo "$base-$ver" ;; *) echo "$base$ver" ;; esac
}

# The libraries Qt's platform plugins (xcb above all) need and this machine lacks: ldd on each plugin and on
# the Qt libraries it loads, "not found" entries only.
missing_qt_libs() {
  local qt plugins
  if ! qt=$("$VENV/bin/python" -c 'import os, PySide6; print(os.path.join(os.path.dirname(PySide6.__file__), "Qt"))' \
      2>/dev/null); then
    echo "install.sh: no PySide6 in $VENV yet: run scripts/install.sh first" >&2
    return 1
  fi
  plugins=("$qt"/plugins/platforms/libqxcb.so "$qt"/plugins/xcbglintegrations/*.so "$qt"/lib/libQt6XcbQpa.so.6
    "$qt"/lib/libQt6Gui.so.6 "$qt"/lib/libQt6Widgets.so.6)
  for f in "${plugins[@]}"; do
    [ -e "$f" ] && LD_LIBRARY_PATH="$qt/lib" ldd "$f" 2>/dev/null | awk '/not found/ {print $1}'
  done | sort -u
}

install_qt_libs() {
  local libs pkgs=() unknown=() pkg
  missing_qt_libs >/dev/null || return 1
  mapfile -t libs < <(missing_qt_libs)
  if [ ${#libs[@]} -eq 0 ]; then
    echo "install.sh: Qt's platform plugins find every library they need" >&2
    return 0
  fi
  echo "install.sh: Qt's platform plugins lack ${libs[*]}" >&2
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "install.sh: install the packages providing them (Debian/Ubuntu: sudo apt-get install" \
      "$(for l in "${libs[@]}"; do deb_package "$l"; done | sort -u | tr '\n' ' '))" >&2
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  for l in "${libs[@]}"; do
    pkg=$(deb_package "$l")
    if apt-cache show "$pkg" >/dev/null 2>&1; then pkgs+=("$pkg")
    elif apt-cache show "${pkg}t64" >/dev/null 2>&1; then pkgs+=("${pkg}t64")  # Debian 13's 64-bit time_t names
    else unknown+=("$l"); fi
  done
  mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
  if [ ${#pkgs[@]} -gt 0 ]; then
    echo "install.sh: installing ${pkgs[*]}" >&2
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  fi
  [ ${#unknown[@]} -eq 0 ] || echo "install.sh: no package found for ${unknown[*]}; install it by hand" >&2
  mapfile -t libs < <(missing_qt_libs)
  [ ${#libs[@]} -eq 0 ] || echo "install.sh: still missing after install: ${libs[*]}" >&2
}

if [ "${1:-}" = "--qt-libs" ]; then
  install_qt_libs
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/python" -m pip install -q "$TORCH_SPEC" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
"$VENV/bin/python" -m pip install -q -e ".[dev]"
# the scan's kernels, compiled once for this machine into the user's cache (scans then start without importing
# numba); where they cannot be built, scans use numba's JIT: not an install failure
"$VENV/bin/model-inspector" kernels >&2 || echo "install.sh: scans will use numba's JIT" >&2
install_qt_libs
echo "install.sh: ready — $VENV/bin/model-inspector --help" >&2
