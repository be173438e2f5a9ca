#!/usr/bin/env bash
# Creates the Python environment for the reference implementations, OUTSIDE the repository:
# $BENCH_VENV (default /work/venv-bench) with torch==2.15.0, onnxruntime, onnx and numpy from PyPI.
# PyPI's torch is a CUDA build (~3 GB of dependencies), so an existing venv that already has the
# pinned packages (default /work/venv, or $REUSE_VENV) is reused through a symlink instead.
# Prints the python path to use on its last line.
set -euo pipefail
BENCH_VENV="${BENCH_VENV:-/work/venv-bench}"
REUSE_VENV="${REUSE_VENV:-/work/venv}"
CHECK='import torch, onnxruntime, onnx, numpy; assert torch.__version__.startswith("2.15.0"), torch.__version__'

if [ -x "$BENCH_VENV/bin/python" ] && "$BENCH_VENV/bin/python" -c "$CHECK" 2>/dev/null; then
    echo "bench venv ready: $BENCH_VENV" >&2
elif [ ! -e "$BENCH_VENV" ] && [ -x "$REUSE_VENV/bin/python" ] && "$REUSE_VENV/bin/python" -c "$CHECK" 2>/dev/null; then
    ln -s "$REUSE_VENV" "$BENCH_VENV"
    echo "reusing $REUSE_VENV (has torch 2.15.0, onnxruntime, onnx, numpy) as $BENCH_VENV" >&2
else
    python3 -m venv "$BENCH_VENV"
    "$BENCH_VENV/bin/pip" install --upgrade pip
    "$BENCH_VENV/bin/pip" install "torch==2.15.0" onnxruntime onnx numpy
    "$BENCH_VENV/bin/python" -c "$CHECK"
fi
echo "$BENCH_VENV/bin/python"
