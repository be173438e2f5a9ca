#!/usr/bin/env bash
# Runs every benchmark row on our engine and on the reference implementations in ONE invocation
# and prints a table: per row, the median time of ours (fp32, bf16 and, for forward rows, int8),
# PyTorch's and, for forward rows, ONNX Runtime's; the ratios ours/theirs; our GFLOP/s; peak RSS;
# the OpenBLAS core and the oneDNN instruction set we ran with.
#
#   Benchmarks/run.sh                       # all rows, 2 threads, 3 rounds of 3 timed reps
#   ROUNDS=5 THREADS=1 REPS=3 Benchmarks/run.sh
#   ROWS=conv3_64 Benchmarks/run.sh         # only rows whose name contains the pattern
#   BF16=0 INT8=0 Benchmarks/run.sh         # without the bf16 and int8 columns
#
# The machine is shared and noisy, so every implementation of a row runs ROUNDS times, interleaved
# (ours, bf16, int8, torch, ort in round 1; the reverse order in round 2; …), each run a separate process
# timing REPS repetitions after WARMUP. A time is the median of the rounds' medians, "±" is half the
# spread (max − min) of the round medians, and a ratio's "≤" is its worst round (ours' slowest
# over theirs' fastest): a claim holds only when the worst round holds it.
#
# Each row is "name | kind | arguments": kind K runs `brainseg bench K`, torch_K.py and, for
# forward rows, onnx_K.py with the same arguments. Raw JSON lines go to $OUT (default a temp file).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${THREADS:-2}"
REPS="${REPS:-3}"
WARMUP="${WARMUP:-1}"
ROUNDS="${ROUNDS:-3}"
BF16="${BF16:-1}"
INT8="${INT8:-1}"
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

# One measurement: implementation ours|bf16|int8|torch|ort of a row, appended to $OUT with its round.
measure() {
    local implementation="$1" name="$2" kind="$3" common="$4" round="$5" command
    case "$implementation" in
        ours)  command=("$BRAINSEG" bench "$kind") ;;
        bf16)  command=("$BRAINSEG" bench "$kind" --precision bf16) ;;
        int8)  command=("$BRAINSEG" bench "$kind" --precision int8) ;;
        torch) command=("$PYTHON" "Benchmarks/torch_$kind.py") ;;
        ort)   command=("$PYTHON" "Benchmarks/onnx_$kind.py") ;;
    esac
    # shellcheck disable=SC2086
    { printf '{"row": "%s", "round": %d, "as": "%s", "result": ' "$name" "$round" "$implementation"
      "${command[@]}" $common | tr -d '\n'; echo '}'; } >> "$OUT"
}

: > "$OUT"
for round in $(seq 1 "$ROUNDS"); do
    for entry in "${ROW_LIST[@]}"; do
        IFS='|' read -r name kind arguments <<< "$entry"
        name="$(echo "$name" | sed 's/ *$//')"; kind="$(echo "$kind" | tr -d ' ')"
        if [ -n "${ROWS:-}" ] && [[ "$name" != *"${ROWS}"* ]]; then continue; fi
        implementations=(ours)
        [ "$BF16" = 1 ] && implementations+=(bf16)
        # int8 is an inference arithmetic: forward rows only.
        if [ "$INT8" = 1 ] && [[ "$arguments" == *"--mode forward"* ]]; then implementations+=(int8); fi
        implementations+=(torch)
        if [[ "$arguments" == *"--mode forward"* ]] && [ -f "Benchmarks/onnx_$kind.py" ]; then implementations+=(ort); fi
        if [ $((round % 2)) -eq 0 ]; then
            reversed=(); for ((i = ${#implementations[@]} - 1; i >= 0; i--)); do reversed+=("${implementations[i]}"); done
            implementations=("${reversed[@]}")
        fi
        echo "== round $round/$ROUNDS: $name (${implementations[*]})" >&2
        for implementation in "${implementations[@]}"; do
            measure "$implementation" "$name" "$kind" "$arguments --threads $THREADS --reps $REPS --warmup $WARMUP --json" "$round"
        done
    done
done

"$PYTHON" - "$OUT" "$("$PYTHON" -c 'import torch, onnxruntime; print("torch", torch.__version__, "(oneDNN", torch.backends.mkldnn.is_available(), "), onnxruntime", onnxruntime.__version__)')" "$REPS" <<'PY'
import json, statistics, sys
runs, order = {}, []
for line in open(sys.argv[1]):
    entry = json.loads(line)
    if entry["row"] not in runs:
        runs[entry["row"]] = {}
        order.append(entry["row"])
    runs[entry["row"]].setdefault(entry["as"], []).append(entry["result"])
def median(results): return statistics.median(r["median_s"] for r in results)
def cell(results):
    if not results: return "-"
    times = [r["median_s"] for r in results]
    return "%.3f ±%.3f" % (statistics.median(times), (max(times) - min(times)) / 2)
def ratio(ours, theirs):
    if not ours or not theirs: return "-"
    worst = max(r["median_s"] for r in ours) / min(r["median_s"] for r in theirs)
    return "%.2f (≤%.2f)" % (median(ours) / median(theirs), worst)
def rss(results): return "%.0f" % max(r["peak_rss_mb"] for r in results) if results else "-"
header = ["row", "ours s", "bf16 s", "int8 s", "torch s", "ort s", "ours/torch", "ours/ort", "bf16/torch", "bf16/ort",
          "int8/torch", "int8/ort", "bf16 speed-up", "int8 speed-up", "ours GF/s", "bf16 GF/s", "RSS ours", "RSS bf16",
          "RSS int8", "RSS torch", "RSS ort"]
table = [header]
for name in order:
    r = runs[name]
    o, b, q, t, x = r.get("ours"), r.get("bf16"), r.get("int8"), r.get("torch"), r.get("ort")
    gflops = lambda results: "%.0f" % (results[0]["gflop"] / median(results)) if results else "-"
    speedup = lambda reduced: "%.2f×" % (median(o) / median(reduced)) if o and reduced else "-"
    table.append([name, cell(o), cell(b), cell(q), cell(t), cell(x), ratio(o, t), ratio(o, x), ratio(b, t), ratio(b, x),
                  ratio(q, t), ratio(q, x), speedup(b), speedup(q), gflops(o), gflops(b), rss(o), rss(b), rss(q), rss(t), rss(x)])
widths = [max(len(row[i]) for row in table) for i in range(len(header))]
for index, row in enumerate(table):
    print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
    if index == 0: print("  ".join("-" * w for w in widths))
first = next(iter(next(iter(runs.values())).get("ours", [{}])), {})
rounds = max(len(v) for row in runs.values() for v in row.values())
print("\nthreads %s, %d rounds × %s reps (medians; ± half the spread of the round medians; (≤x) the worst round)" % (
    first.get("threads", "?"), rounds, sys.argv[3]))
print("ours: OpenBLAS core %s, oneDNN ISA %s (backend %s); %s" % (
    first.get("openblas_core", "?"), first.get("onednn_isa", "?"), first.get("backend", "?"), sys.argv[2]))
print("RSS: peak resident MB of each process (max over rounds); raw JSON: %s" % sys.argv[1])
PY
