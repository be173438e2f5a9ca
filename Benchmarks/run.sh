#!/usr/bin/env bash
# Runs every benchmark row on our engine and on the reference implementations in ONE invocation
# and prints a table: row, medians (ours / PyTorch / ONNX Runtime for forward rows), ratios
# ours/theirs, peak RSS of each process, and the OpenBLAS kernel family we ran with.
#
#   Benchmarks/run.sh                 # all rows, 2 threads
#   THREADS=1 REPS=5 Benchmarks/run.sh
#   ROWS=conv3_64 Benchmarks/run.sh   # only rows whose name contains the pattern
#
# Each row is "name | kind | arguments": kind K runs `brainseg bench K`, torch_K.py and, for
# forward rows, onnx_K.py with the same arguments (a `model` kind plugs in the same way).
# Every process runs alone, one after the other; raw JSON lines go to $OUT (default a temp file).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${THREADS:-2}"
REPS="${REPS:-3}"
WARMUP="${WARMUP:-1}"
OUT="${OUT:-$(mktemp /tmp/brainseg-bench.XXXXXX.jsonl)}"

ROW_LIST=(
    "conv3 32→32 128³ forward | conv | --in-channels 32 --out-channels 32 --size 128 --kernel 3 --mode forward"
    "conv3 32→32 128³ train   | conv | --in-channels 32 --out-channels 32 --size 128 --kernel 3 --mode train"
    "conv3 64→64 64³ forward  | conv | --in-channels 64 --out-channels 64 --size 64 --kernel 3 --mode forward"
    "conv3 64→64 64³ train    | conv | --in-channels 64 --out-channels 64 --size 64 --kernel 3 --mode train"
    "unet16 96³ forward       | model | --model unet --shape 96,96,96 --mode forward"
    "unet16 96³ train step    | model | --model unet --shape 96,96,96 --mode train"
    # Full BraTS case in the cpu profile: the brain crop at 2 mm, padded to each model's multiple.
    "unet full case 80×96×80 forward        | model | --model unet --shape 80,96,80 --mode forward"
    "resunet-vae full case 72×88×72 forward | model | --model resunet-vae --shape 72,88,72 --mode forward"
    "cascade full case 64³ forward          | model | --model cascade --shape 64,64,64 --mode forward"
    "student full case 72×88×72 forward     | model | --model student --shape 72,88,72 --mode forward"
    # Training steps on the default 64³ patches (the cascade trains on its whole cube).
    "unet train step 64³        | model | --model unet --shape 64,64,64 --mode train"
    "resunet-vae train step 64³ | model | --model resunet-vae --shape 64,64,64 --mode train"
    "cascade train step 64³     | model | --model cascade --shape 64,64,64 --mode train"
    "student train step 64³     | model | --model student --shape 64,64,64 --mode train"
)

PYTHON="$(Benchmarks/setup-venv.sh | tail -n 1)"
swift build -c release --product brainseg >&2
BRAINSEG="$(swift build -c release --show-bin-path)/brainseg"

: > "$OUT"
for entry in "${ROW_LIST[@]}"; do
    IFS='|' read -r name kind arguments <<< "$entry"
    name="$(echo "$name" | sed 's/ *$//')"; kind="$(echo "$kind" | tr -d ' ')"
    if [ -n "${ROWS:-}" ] && [[ "$name" != *"${ROWS}"* ]]; then continue; fi
    common="$arguments --threads $THREADS --reps $REPS --warmup $WARMUP --json"
    echo "== $name" >&2
    # shellcheck disable=SC2086
    { printf '{"row": "%s", "result": ' "$name"; "$BRAINSEG" bench "$kind" $common | tr -d '\n'; echo '}'; } >> "$OUT"
    # shellcheck disable=SC2086
    { printf '{"row": "%s", "result": ' "$name"; "$PYTHON" "Benchmarks/torch_$kind.py" $common | tr -d '\n'; echo '}'; } >> "$OUT"
    if [[ "$arguments" == *"--mode forward"* ]] && [ -f "Benchmarks/onnx_$kind.py" ]; then
        # shellcheck disable=SC2086
        { printf '{"row": "%s", "result": ' "$name"; "$PYTHON" "Benchmarks/onnx_$kind.py" $common | tr -d '\n'; echo '}'; } >> "$OUT"
    fi
done

"$PYTHON" - "$OUT" <<'PY'
import json, sys
rows, order = {}, []
for line in open(sys.argv[1]):
    entry = json.loads(line)
    if entry["row"] not in rows:
        rows[entry["row"]] = {}
        order.append(entry["row"])
    rows[entry["row"]][entry["result"]["implementation"]] = entry["result"]
def seconds(r): return "%.3f" % r["median_s"] if r else "-"
def ratio(a, b): return "%.2f" % (a["median_s"] / b["median_s"]) if a and b else "-"
def rss(r): return "%.0f" % r["peak_rss_mb"] if r else "-"
header = ["row", "ours s", "torch s", "ort s", "ours/torch", "ours/ort", "ours GF/s", "RSS ours MB", "RSS torch MB", "RSS ort MB", "openblas core"]
table = [header]
for name in order:
    r = rows[name]; o, t, x = r.get("brainseg"), r.get("pytorch"), r.get("onnxruntime")
    table.append([name, seconds(o), seconds(t), seconds(x), ratio(o, t), ratio(o, x),
                  "%.0f" % o["gflops"] if o else "-", rss(o), rss(t), rss(x), o["openblas_core"] if o else "-"])
widths = [max(len(row[i]) for row in table) for i in range(len(header))]
for index, row in enumerate(table):
    print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
    if index == 0: print("  ".join("-" * w for w in widths))
threads = next(iter(next(iter(rows.values())).values()))["threads"] if rows else "?"
print("\nthreads %s; medians of the timed repetitions; ratios < 1 mean we are faster; raw JSON: %s" % (threads, sys.argv[1]))
PY
