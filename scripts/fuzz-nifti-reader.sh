#!/usr/bin/env bash
# Long run of the NIfTI reader fuzzer (Tests/CoreTests/NiftiReaderFuzzTests.swift).
# Usage: scripts/fuzz-nifti-reader.sh [SECONDS=3600] [SEED=1]
# Builds the tests in release mode, copies the test binary aside (so builds can go on), and
# prints the closing line: runs, crashes, accepted, corrupt accepted, refusals by kind.
# A crash leaves its input as $TMPDIR/brainseg-fuzz-current-input-<pid>.nii[.gz]: copy it
# into Tests/Fixtures/fuzz/regressions/ and fix the reader.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-3600}"
seed="${2:-1}"
swift build -c release --build-tests
binary="$(mktemp -d)/brainsegPackageTests.xctest"
cp "$(swift build -c release --show-bin-path)/brainsegPackageTests.xctest" "$binary"
BRAINSEG_FUZZ_SECONDS="$seconds" BRAINSEG_FUZZ_SEED="$seed" "$binary" --testing-library swift-testing \
    --filter NiftiReaderFuzzTests 2>&1 | grep -E "^fuzz:|✘|✔ Test run|passed|failed" || true
