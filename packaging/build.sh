#!/usr/bin/env bash
# Build the one-folder desktop app with PyInstaller from a clean virtual environment, then smoke-test the
# frozen app (demo screenshot offscreen, scan of a demo model) and print its size and start-up time.
#   TORCH_SPEC  torch to bundle (default torch==2.13.0, CPU). For CUDA: TORCH_SPEC=torch==2.13.0 with
#               PIP_INDEX_URL=https://download.pytorch.org/whl/cu128 (the bundle grows by several GB).
#   BUILD_VENV  where the clean environment goes (default build/pkg-venv; deleted first)
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
BUILD_VENV=${BUILD_VENV:-build/pkg-venv}
PY=${PYTHON:-python3}

rm -rf "$BUILD_VENV" build/pyinstaller dist/model-inspector
"$PY" -m venv "$BUILD_VENV"
"$BUILD_VENV/bin/pip" install -q "$TORCH_SPEC"
"$BUILD_VENV/bin/pip" install -q . "pyinstaller>=6.5"
t0=$(date +%s)
"$BUILD_VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --workpath build/pyinstaller --distpath dist packaging/model_inspector.spec
echo "build: $(( $(date +%s) - t0 )) s"

app=dist/model-inspector/model-inspector
echo "bundle: $(du -sh dist/model-inspector | cut -f1) in dist/model-inspector/"
export QT_QPA_PLATFORM=offscreen
first=$(mktemp --suffix=.png)
t0=$(date +%s.%N)
"$app" gui --screenshot "$first"
t1=$(date +%s.%N)
echo "frozen time to first window (start, show the empty window, render it, exit): $(python3 -c "print(round($t1 - $t0, 2))") s -> $first"
shot=$(mktemp --suffix=.png)
t0=$(date +%s.%N)
"$app" demo --screenshot "$shot"
t1=$(date +%s.%N)
echo "frozen 'demo --screenshot' (start, scan demo, render, exit): $(python3 -c "print(round($t1 - $t0, 2))") s -> $shot"
demo=$(ls resources/demo/*sgn*.safetensors | head -n 1)
set +e
out=$("$app" scan "$demo" --quiet 2>&1)
rc=$?
set -e
echo "$out"
# the sign-encoding demo must come out suspicious (exit 1 and a verdict line); a crash also exits 1 when frozen
[ "$rc" = 1 ] && echo "$out" | grep -q "^suspicious " || { echo "frozen scan failed (exit $rc)"; exit 1; }
"$app" --version
echo "smoke test passed"
