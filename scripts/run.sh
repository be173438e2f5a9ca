#!/usr/bin/env bash
# The README's main-job command: installs what is missing, builds release, and starts the
# daemon on the embedded default configuration with root ./var and the shipped models.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-system-packages.sh
swift build -c release --product brainseg
exec .build/release/brainseg serve --root ./var "$@"
