#!/usr/bin/env bash
# k-fold cross-validation of one training recipe (issue #11): trains MODEL on the labelled cases
# minus the gate's frozen hold-out minus one fold, then segments that fold with the run's final
# weights through `brainseg segment` and scores it with `brainseg eval` (the same pipeline as
# a hospital's). Per fold: $RUNS/<recipe>/fold<k>/{run/,pred/,eval.json}. Re-running resumes.
#
#   scripts/cross-validate.sh RECIPE MODEL FOLDS -- TRAIN_OPTIONS…
#   scripts/cross-validate.sh cascade-baseline cascade 1,2,3,4 -- --steps 1600 --stop-after 585 --learning-rate 0.02
#   scripts/cross-validate.sh --summary RECIPE     # mean ± sd over the folds done, per region
#
# In TRAIN_OPTIONS, %k stands for the fold number (e.g. `--pool $RUNS/pool-unet-cascade/fold%k`,
# the fold's pseudo-labelled pool from scripts/cv-pool.sh).
#
# The gate's hold-out (4 cases, one low-grade) is never used here. The 13 other cases form 4
# folds, stratified by grade (the low-grade TCIA10_637_1 is in fold 1) and by source (2013,
# CBICA, TCIA mixed in each fold). Training: seed 1, one engine thread.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${BRAINSEG_DATA:-../shared/data}/brats18/labelled"
RUNS="${RUNS:-/work/cv-runs}"
GATE="Brats18_2013_3_1,Brats18_CBICA_AQN_1,Brats18_TCIA02_606_1,Brats18_TCIA10_628_1"
FOLD1="Brats18_2013_20_1,Brats18_CBICA_ABM_1,Brats18_TCIA01_201_1,Brats18_TCIA10_637_1"
FOLD2="Brats18_CBICA_ALU_1,Brats18_CBICA_AME_1,Brats18_TCIA01_378_1"
FOLD3="Brats18_CBICA_AMH_1,Brats18_CBICA_AOZ_1,Brats18_TCIA01_499_1"
FOLD4="Brats18_CBICA_APR_1,Brats18_TCIA02_135_1,Brats18_TCIA03_265_1"
# BRAINSEG: the binary to use (default the release build). Give long runs a copy of it, so that a
# rebuild during the run cannot overwrite the executable under it.
BRAINSEG="${BRAINSEG:-$(swift build -c release --show-bin-path)/brainseg}"

if [ "${1:-}" = "--summary" ]; then
    python3 - "$RUNS/$2" <<'PY'
import json, glob, statistics, sys
rows = []
for path in sorted(glob.glob(sys.argv[1] + "/fold*/eval.json")):
    rows += json.load(open(path))["cases"]
print(f"{len(rows)} cases from {len(glob.glob(sys.argv[1] + '/fold*/eval.json'))} folds")
for region in ["WT", "TC", "ET"]:
    dice = [r["metrics"][region]["dice"] for r in rows]
    hd = [r["metrics"][region]["hausdorff95"] for r in rows]
    print(f"{region}: Dice {statistics.mean(dice):.3f} ± {statistics.pstdev(dice):.3f} (median {statistics.median(dice):.3f}), HD95 {statistics.mean(hd):.1f} mm")
PY
    exit 0
fi

recipe="$1" model="$2" folds="$3"; shift 3
[ "${1:-}" = "--" ] && shift
[ -x "$BRAINSEG" ] || swift build -c release --product brainseg
for k in ${folds//,/ }; do
    var="FOLD$k"; fold="${!var}"
    dir="$RUNS/$recipe/fold$k"
    mkdir -p "$dir"
    if [ ! -f "$dir/run/final/model.json" ]; then
        if [ -f "$dir/run/config.json" ]; then
            "$BRAINSEG" train --resume "$dir/run"
        else
            "$BRAINSEG" train "$model" --data "$DATA" --holdout "$GATE,$fold" --seed 1 --threads 1 --out "$dir/run" "${@//%k/$k}"
        fi
    fi
    if [ ! -f "$dir/eval.json" ]; then
        rm -rf "$dir/models" "$dir/pred"
        mkdir -p "$dir/models/$model"
        ln -s "$dir/run/final" "$dir/models/$model/1"
        cases=()
        for name in ${fold//,/ }; do cases+=("$DATA/$name"); done
        "$BRAINSEG" segment "${cases[@]}" --out "$dir/pred" --models "$model" --models-dir "$dir/models"
        "$BRAINSEG" eval --pred "$dir/pred" --truth "$DATA" --json > "$dir/eval.json.tmp" && mv "$dir/eval.json.tmp" "$dir/eval.json"
    fi
done
