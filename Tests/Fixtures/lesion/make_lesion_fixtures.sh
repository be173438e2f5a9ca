#!/usr/bin/env bash
# Regenerates the lesion-wise fixtures with the official BraTS evaluator (brats-evaluation on
# PyPI, AGPL-3.0). The evaluator lives in a venv outside the repository (BRAINSEG_LESION_VENV,
# default ~/.cache/brainseg/brats-eval-venv); nothing of it enters the repository.
#
#   Tests/Fixtures/lesion/make_lesion_fixtures.sh                       # synthetic pairs only
#   Tests/Fixtures/lesion/make_lesion_fixtures.sh --data ../shared/data --predictions OUT
#       OUT: `brainseg segment` output (release build, default ensemble) of the cases in
#       REAL_CASES of make_lesion_fixtures.py; their masks are copied into real/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${BRAINSEG_LESION_VENV:-$HOME/.cache/brainseg/brats-eval-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import brats_evaluation" 2>/dev/null; then
    "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi
exec "$venv/bin/python" "$here/make_lesion_fixtures.py" "$@"
