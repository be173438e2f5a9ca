#!/usr/bin/env bash
# Chaos run of the daemon (Tests/brainsegTests/ChaosTests.swift): drops CASES cases while
# killing `brainseg serve` with SIGKILL at random moments (start-up and model install
# included), then checks that nothing was lost, processed twice or published partially.
# Usage: scripts/chaos.sh [CASES=60] [SEED=7]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
BRAINSEG_CHAOS_CASES="${1:-60}" BRAINSEG_CHAOS_SEED="${2:-7}" swift test --skip-build --filter ChaosTests 2>&1 \
    | grep -E "^chaos:|✘|Test run"
