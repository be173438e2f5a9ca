#!/usr/bin/env bash
# Reproduces the shipped cpu-profile models from scratch with brainseg itself (issue: training).
#
#   scripts/train-shipped-models.sh student            # one model
#   scripts/train-shipped-models.sh all                # the four, two at a time
#
# Data: the 16 labelled BraTS 2018 cases in $BRAINSEG_DATA/brats18/labelled (default
# ../shared/data); the four hold-out cases below are never trained on and select the best
# checkpoint. Runs go to $RUNS (default ~/brainseg-runs/<model>); re-running the same command
# resumes an interrupted run from its last checkpoint. The exact command, seed, steps and
# wall time of each shipped model are in its models/<name>/1/model.json.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${BRAINSEG_DATA:-../shared/data}/brats18/labelled"
RUNS="${RUNS:-$HOME/brainseg-runs}"
HOLDOUT="Brats18_2013_3_1,Brats18_CBICA_AQN_1,Brats18_TCIA02_606_1,Brats18_TCIA10_628_1"
BRAINSEG="$(swift build -c release --show-bin-path)/brainseg"
[ -x "$BRAINSEG" ] || swift build -c release --product brainseg

# model | options (threads 1 so that two runs share the two cores; determinism is per thread count)
declare -A OPTIONS=(
    [student]="--steps 4000 --learning-rate 0.001 --weight-decay 0.01"
    [unet]="--steps 4000 --learning-rate 0.001 --weight-decay 0.01"
    [resunet-vae]="--steps 4000 --learning-rate 0.001 --weight-decay 0.01"
    [cascade]="--steps 4000 --learning-rate 0.01"
)

train() {
    local model="$1" run="$RUNS/$1"
    mkdir -p "$RUNS"
    if [ -f "$run/config.json" ]; then
        "$BRAINSEG" train --resume "$run"
    else
        # shellcheck disable=SC2086
        "$BRAINSEG" train "$model" --data "$DATA" --holdout "$HOLDOUT" --seed 1 --threads 1 ${OPTIONS[$model]} --out "$run"
    fi
}

case "${1:-}" in
    all)
        (train student; train resunet-vae) &
        (train unet; train cascade) &
        wait
        ;;
    student|unet|resunet-vae|cascade) train "$1" ;;
    *) echo "usage: $0 student|unet|resunet-vae|cascade|all" >&2; exit 2 ;;
esac
