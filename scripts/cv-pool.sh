#!/usr/bin/env bash
# A distillation pool per cross-validation fold (issue #11): the unlabelled BraTS cases
# pseudo-labelled by that fold's teachers (models trained without the fold's cases, from
# scripts/cross-validate.sh), laid out as the daemon's pool entries are: <case>/ with the four
# modalities (links), <case>_seg.nii.gz (the ensemble's label map) and
# soft/prob_{WT,TC,ET}.nii.gz (its averaged region probabilities). A student trained on it
# (`scripts/cross-validate.sh … -- --pool $RUNS/<name>/fold%k`) is scored on the fold's cases,
# which neither it nor its teachers saw.
#
#   scripts/cv-pool.sh NAME FOLDS MODEL=RECIPE…
#   scripts/cv-pool.sh pool-unet-cascade 1,2 unet=unet-baseline cascade=cascade-baseline
#
# Every unlabelled case enters (no admission filter: the comparison is of training targets).
set -euo pipefail
cd "$(dirname "$0")/.."
UNLABELLED="${BRAINSEG_DATA:-../shared/data}/brats18/unlabelled"
RUNS="${RUNS:-/work/cv-runs}"
BRAINSEG="${BRAINSEG:-$(swift build -c release --show-bin-path)/brainseg}"

name="$1" folds="$2"; shift 2
for k in ${folds//,/ }; do
    dir="$RUNS/$name/fold$k"
    [ -f "$dir/.complete" ] && continue
    rm -rf "$dir"
    mkdir -p "$dir/models"
    members=()
    for pair in "$@"; do
        model="${pair%%=*}" recipe="${pair#*=}"
        final="$RUNS/$recipe/fold$k/run/final"
        [ -f "$final/model.json" ] || { echo "fold $k: $recipe has no finished run ($final)" >&2; exit 1; }
        mkdir -p "$dir/models/$model"
        ln -s "$final" "$dir/models/$model/1"
        members+=("$model")
    done
    cases=("$UNLABELLED"/*/)
    "$BRAINSEG" segment "${cases[@]%/}" --out "$dir/pred" --models "$(IFS=,; echo "${members[*]}")" --models-dir "$dir/models" --probabilities
    for folder in "${cases[@]%/}"; do
        case_name="$(basename "$folder")"
        entry="$dir/pool/$case_name"
        mkdir -p "$entry/soft"
        for file in "$folder"/*.nii*; do ln -s "$(realpath "$file")" "$entry/"; done
        cp "$dir/pred/${case_name}_seg.nii.gz" "$entry/${case_name}_seg.nii.gz"
        for region in WT TC ET; do
            cp "$dir/pred/${case_name}_prob_${region}.nii.gz" "$entry/soft/prob_${region}.nii.gz"
        done
    done
    touch "$dir/.complete"
done
