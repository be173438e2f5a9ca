#!/usr/bin/env bash
# Regenerates every PyTorch reference fixture (needs a venv with torch==2.15.0 and
# safetensors==0.8.0: see Benchmarks/setup-venv.sh or `pip install -r requirements.txt`).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
for script in make_*_fixtures.py; do
    echo "== $script"
    "$PYTHON" "$script"
done
