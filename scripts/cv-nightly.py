#!/usr/bin/env python3
"""One nightly run on the cases a hospital dropped, cross-validated (issue #11): is the student
better on those cases after a night, and does the gate let it through?

  scripts/cv-nightly.py run K             fold K: a fresh root whose models are the fold's four
                                          cross-validated models (trained without fold K);
                                          `brainseg serve` gets the fold's cases (images only) and
                                          the 8 unlabelled cases dropped as a sender does; then
                                          `brainseg retrain` on the embedded defaults (one thread)
                                          with the other folds' cases + the gate's 4 as
                                          `[training] labelled`; then the student before and after
                                          segments the fold's cases (`brainseg segment`, `eval`).
  scripts/cv-nightly.py control K         the same night from the same start with pool_weight = 0
                                          (labels only), in a copy of fold K's root taken after
                                          serving (run `run K` first).
  scripts/cv-nightly.py summary           per case: admitted or not, mean Dice before, after the
                                          night, after the labels-only night; the gate's verdicts.

Folds and recipes: cv_protocol.py and models/README.md "Cross-validation". Environment: WORK
(default /work/cv-nightly), RUNS (the fold models, default /work/cv-runs), BRAINSEG (give long
runs a copy of the binary), BRAINSEG_DATA. Standard library only.
"""
import glob
import json
import math
import os
import shutil
import subprocess
import sys

from cv_protocol import DATA, FOLDS, GATE, RUNS, brainseg
from daemon_reports import reports_from_daemon

WORK = os.environ.get("WORK", "/work/cv-nightly")
UNLABELLED = os.path.join(os.path.dirname(DATA), "unlabelled")
MEMBERS = [("unet", "unet-2500-bf16"), ("resunet-vae", "resunet-2000-bf16"), ("cascade", "cascade-full1600"),
           ("student", "student-1500-bf16")]


def retrain_and_score(binary, root, k, student_before=None):
    """`brainseg retrain` in `root`, then the fold's cases segmented by the candidate (and by
    `student_before`, the student the night started from, when given)."""
    subprocess.run([binary, "retrain", "--config", f"{root}/brainseg.toml", "--seed", "1"], check=False)
    candidate = glob.glob(f"{root}/retrain/run-*/training/final")[0]
    students = {"after": candidate} | ({"before": student_before} if student_before else {})
    for which, folder in students.items():
        models = f"{root}/eval-models/{which}"
        os.makedirs(f"{models}/student")
        os.symlink(folder, f"{models}/student/1")
        subprocess.run([binary, "segment", *[f"{DATA}/{c}" for c in FOLDS[k]], "--out", f"{root}/eval-{which}",
                        "--models", "student", "--models-dir", models], check=True, capture_output=True)
        scores = subprocess.run([binary, "eval", "--pred", f"{root}/eval-{which}", "--truth", DATA, "--json"],
                                check=True, capture_output=True, text=True)
        with open(f"{root}/eval-{which}.json", "w") as f:
            f.write(scores.stdout)


def run(k):
    binary, root = brainseg(), f"{WORK}/fold{k}"
    models, drop, labelled = root + "-models", root + "-drop", root + "-labelled"
    for folder in (root, models, drop, labelled):
        shutil.rmtree(folder, ignore_errors=True)
    for model, recipe in MEMBERS:
        os.makedirs(f"{models}/{model}")
        os.symlink(f"{RUNS}/{recipe}/fold{k}/run/final", f"{models}/{model}/1")
    for case in FOLDS[k]:   # images only: nothing tells the daemon these cases are labelled
        os.makedirs(f"{drop}/{case}")
        for file in glob.glob(f"{DATA}/{case}/*.nii*"):
            if not file.endswith(("_seg.nii", "_seg.nii.gz")):
                shutil.copy(file, f"{drop}/{case}/")
    os.makedirs(labelled)
    for case in [c for fold, cases in FOLDS.items() if fold != k for c in cases] + GATE:
        os.symlink(os.path.realpath(f"{DATA}/{case}"), f"{labelled}/{case}")
    unlabelled = sorted(glob.glob(f"{UNLABELLED}/*/"))
    reports = reports_from_daemon(binary, root, models, [f"{drop}/{c}" for c in FOLDS[k]] + [u.rstrip("/") for u in unlabelled])
    print(f"fold {k}: {len(reports)} reports, pool {sorted(os.listdir(f'{root}/pool'))}", flush=True)
    with open(f"{root}/brainseg.toml", "a") as f:
        f.write(f'[training]\nthreads = 1\nlabelled = ["{labelled}"]\n')
    shutil.copytree(root, root + "-served", symlinks=True)   # the start of `control K`
    retrain_and_score(binary, root, k, student_before=f"{root}/models/student/1")


def control(k):
    source, root = f"{WORK}/fold{k}-served", f"{WORK}/fold{k}-labels-only"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(source, root, symlinks=True)
    with open(f"{root}/brainseg.toml") as f:
        text = f.read().replace(f'root = "{source}"', f'root = "{root}"').replace(f'root = "{WORK}/fold{k}"', f'root = "{root}"')
    with open(f"{root}/brainseg.toml", "w") as f:
        f.write(text + "pool_weight = 0\n")
    retrain_and_score(brainseg(), root, k)


def summary():
    def dice(path):
        if not os.path.exists(path):
            return {}
        return {c["case"]: [c["metrics"][r]["dice"] for r in ("WT", "TC", "ET")] for c in json.load(open(path))["cases"]}

    def verdict(root):
        for path in glob.glob(f"{root}/retrain/run-*/decision.json"):
            d = json.load(open(path))
            return f"{d['current']['mean']['mean']:.3f} → {d['candidate']['mean']['mean']:.3f} {'promoted' if d['promoted'] else 'rejected'}"
        return "–"

    rows = []
    for k in FOLDS:
        root = f"{WORK}/fold{k}"
        if not os.path.exists(f"{root}/eval-after.json"):
            continue
        pool = set(os.listdir(f"{root}/pool"))
        before, after, labels = dice(f"{root}/eval-before.json"), dice(f"{root}/eval-after.json"), dice(f"{root}-labels-only/eval-after.json")
        print(f"fold {k}: gate, night with the pool: {verdict(root)}; labels only: {verdict(root + '-labels-only')}")
        for case in FOLDS[k]:
            mean = lambda d: sum(d[case]) / 3 if case in d else math.nan
            admitted = case in pool
            print(f"  {case:24s} {'admitted' if admitted else 'refused ':8s} before {mean(before):.3f}  "
                  f"after {mean(after):.3f}  labels only {mean(labels):.3f}")
            rows.append((admitted, mean(before), mean(after), mean(labels)))
    groups = (("all", lambda r: True), ("admitted", lambda r: r[0]), ("refused", lambda r: not r[0]),
              ("with a labels-only night", lambda r: not math.isnan(r[3])),
              ("admitted, with a labels-only night", lambda r: r[0] and not math.isnan(r[3])))
    for name, keep in groups:
        chosen = [r for r in rows if keep(r)]
        if chosen:
            means = [sum(r[i] for r in chosen) / len(chosen) for i in (1, 2, 3)]
            print(f"{name:35s} {len(chosen):2d} cases: before {means[0]:.3f}  after {means[1]:.3f}  labels only {means[2]:.3f}")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command in ("run", "control") and len(sys.argv) == 3:
        (run if command == "run" else control)(int(sys.argv[2]))
    elif command == "summary":
        summary()
    else:
        sys.exit(__doc__)
