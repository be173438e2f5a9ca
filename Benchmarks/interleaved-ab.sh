#!/bin/bash
# Interleaved A/B of `brainseg bench` rows under several configurations on a shared machine:
# per round, per row, each configuration in turn, so that the host's drift hits them alike.
# Prints one TSV line per run (round, row, configuration, median_s), then per row the median
# and [min-max] over rounds of each configuration.
#
#   CONFIGS="X=1;GOMP_SPINCOUNT=3000" ROWS="model --model unet --shape 80,96,80;conv --in-channels 64 --out-channels 64 --size 64" \
#       ROUNDS=3 REPS=5 Benchmarks/interleaved-ab.sh [BRAINSEG_BINARY]
#
# A configuration is a list of environment assignments (`X=1` changes nothing); to compare two
# builds, copy each binary aside and run the script once per binary in alternation.
set -euo pipefail
binary=${1:-.build/release/brainseg}
IFS=';' read -ra configs <<< "${CONFIGS:-X=1}"
IFS=';' read -ra rows <<< "${ROWS:-model --model unet --shape 80,96,80}"
rounds=${ROUNDS:-3}
reps=${REPS:-5}
threads=${THREADS:-2}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for round in $(seq "$rounds"); do
  for row in "${rows[@]}"; do
    for config in "${configs[@]}"; do
      # shellcheck disable=SC2086  # the row and the assignments are word lists
      median=$(env $config "$binary" bench $row --reps "$reps" --warmup 1 --threads "$threads" --json 2>/dev/null \
        | grep '^{' | python3 -c 'import json, sys; print(json.load(sys.stdin)["median_s"])')
      printf '%s\t%s\t%s\t%s\n' "$round" "$row" "$config" "$median" | tee -a "$log"
    done
  done
done
python3 - "$log" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
rows, configs = [], []
for line in open(sys.argv[1]):
    _, row, config, median = line.rstrip("\n").split("\t")
    runs[(row, config)].append(float(median))
    rows += [row] if row not in rows else []
    configs += [config] if config not in configs else []
print("\nrow\t" + "\t".join(configs))
for row in rows:
    cells = [runs[(row, c)] for c in configs]
    print(row + "\t" + "\t".join(f"{statistics.median(v):.3f} [{min(v):.3f}-{max(v):.3f}]" for v in cells))
PY
