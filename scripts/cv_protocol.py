"""The cross-validation protocol of issue #11 (models/README.md "Cross-validation"), shared by
cv-ensemble.py and model-table.py; scripts/cross-validate.sh and cv-pool.sh hold the same folds.

The gate's frozen hold-out (4 cases, one low-grade) is never in a fold. The 13 other labelled
cases form 4 folds, stratified by grade (the low-grade TCIA10_637_1 is in fold 1) and source.
"""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = os.environ.get("RUNS", "/work/cv-runs")
DATA = os.path.join(os.environ.get("BRAINSEG_DATA", os.path.join(ROOT, "..", "shared", "data")), "brats18", "labelled")
GATE = ["Brats18_2013_3_1", "Brats18_CBICA_AQN_1", "Brats18_TCIA02_606_1", "Brats18_TCIA10_628_1"]
FOLDS = {
    1: ["Brats18_2013_20_1", "Brats18_CBICA_ABM_1", "Brats18_TCIA01_201_1", "Brats18_TCIA10_637_1"],
    2: ["Brats18_CBICA_ALU_1", "Brats18_CBICA_AME_1", "Brats18_TCIA01_378_1"],
    3: ["Brats18_CBICA_AMH_1", "Brats18_CBICA_AOZ_1", "Brats18_TCIA01_499_1"],
    4: ["Brats18_CBICA_APR_1", "Brats18_TCIA02_135_1", "Brats18_TCIA03_265_1"],
}
REGIONS = ["WT", "TC", "ET"]


def brainseg():
    """The executable: $BRAINSEG, else the release build."""
    if "BRAINSEG" in os.environ:
        return os.environ["BRAINSEG"]
    out = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True)
    return os.path.join(out.stdout.strip(), "brainseg")


def fold_dir(recipe, fold):
    """A recipe's folder for one fold (scripts/cross-validate.sh layout)."""
    return os.path.join(RUNS, recipe, f"fold{fold}")
