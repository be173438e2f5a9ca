#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs the whole test suite.
# Real-data tests run when BRAINSEG_DATA names ../shared/data (CI sets it); otherwise they skip
# with a message. Exits non-zero on any failing test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-system-packages.sh
swift build --build-tests
swift test --skip-build
# Offline checks of the systemd units (verify without any warning, timer/service pairs,
# security exposure <= 2.0) against the binary just built.
scripts/check-systemd-units.sh "$(swift build --show-bin-path)/brainseg"
