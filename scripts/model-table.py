#!/usr/bin/env python3
"""The models/README.md tables in the paper's Table 1/2 shape (issue #11): per model and for
the ensemble, mean and median Dice and mean HD95 per region, through `brainseg segment` and
`brainseg eval` (the pipeline a hospital runs).

  scripts/model-table.py gate MODELS_DIR [--out DIR] [--precision P]
      The gate's frozen hold-out (4 cases, one low-grade), segmented with the models in
      MODELS_DIR (<model>/<version>/): unet, resunet-vae, cascade, the teachers' ensemble, the
      four-member ensemble (teachers + student), the student, each through `brainseg segment --models …`.
  scripts/model-table.py cv ROW=MODEL:RECIPE[+MODEL:RECIPE…] … [--folds 1,2] [--out DIR]
      Cross-validated: each row's members are the fold models of the recipes (scripts/
      cross-validate.sh); every fold is segmented by models trained without it, and the 13
      out-of-fold cases are scored together. A row with several members is an ensemble.
      Only folds that every member has finished are used (the row says how many cases).

Environment: RUNS (default /work/cv-runs), BRAINSEG (default the release build),
BRAINSEG_DATA (default ../shared/data).
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

from cv_protocol import DATA, FOLDS, GATE, REGIONS, RUNS, brainseg


def segment_and_score(cases, models, models_dir, out, precision=None):
    """Segments `cases` with the ensemble `models` (at `precision`, else the daemon's defaults)
    and returns eval's per-case metrics."""
    pred = os.path.join(out, "pred")
    extra = ["--precision", precision] if precision else []
    subprocess.run([brainseg(), "segment", *[os.path.join(DATA, c) for c in cases], "--out", pred,
                    "--models", ",".join(models), "--models-dir", models_dir, *extra], check=True, capture_output=True)
    result = subprocess.run([brainseg(), "eval", "--pred", pred, "--truth", DATA, "--json"], check=True, capture_output=True, text=True)
    return json.loads(result.stdout)["cases"]


def row(label, cases):
    cells = []
    for region in REGIONS:
        dice = [c["metrics"][region]["dice"] for c in cases]
        cells.append(f"{statistics.mean(dice):.3f} ({statistics.median(dice):.3f})")
    for region in REGIONS:
        cells.append(f"{statistics.mean(c['metrics'][region]['hausdorff95'] for c in cases):.1f}")
    overall = statistics.mean(statistics.mean(c["metrics"][r]["dice"] for r in REGIONS) for c in cases)
    return f"| {label} | {len(cases)} | " + " | ".join(cells) + f" | {overall:.3f} |"


HEADER = ("| model | cases | Dice WT mean (median) | Dice TC | Dice ET | HD95 WT mm | HD95 TC | HD95 ET | mean Dice |\n"
          "|---|---|---|---|---|---|---|---|---|")


def gate(arguments):
    configurations = [("UNet", ["unet"]), ("ResUNet-VAE", ["resunet-vae"]), ("Cascade", ["cascade"]),
                      ("Ensemble (three teachers)", ["unet", "resunet-vae", "cascade"]),
                      ("Ensemble (three teachers + student)", ["unet", "resunet-vae", "cascade", "student"]),
                      ("Student", ["student"])]
    out = arguments.out or tempfile.mkdtemp(prefix="gate-table-")
    print(HEADER)
    per_case = {}
    for label, models in configurations:
        cases = segment_and_score(GATE, models, os.path.abspath(arguments.models_dir), os.path.join(out, "-".join(models)),
                                  arguments.precision)
        per_case[label] = cases
        print(row(label, cases), flush=True)
    print_per_case(per_case)


def cv(arguments):
    out = arguments.out or tempfile.mkdtemp(prefix="cv-table-")
    print(HEADER)
    per_case = {}
    for spec in arguments.rows:
        label, _, members = spec.partition("=")
        pairs = [m.split(":") for m in members.split("+")]
        cases = []
        for fold, names in FOLDS.items():
            if arguments.folds and fold not in arguments.folds:
                continue
            finals = [os.path.join(RUNS, recipe, f"fold{fold}", "run", "final") for _, recipe in pairs]
            if not all(os.path.exists(os.path.join(f, "model.json")) for f in finals):
                continue
            directory = os.path.join(out, label.replace(" ", "_"), f"fold{fold}")
            models_dir = os.path.join(directory, "models")
            for (model, _), final in zip(pairs, finals):
                os.makedirs(os.path.join(models_dir, model), exist_ok=True)
                link = os.path.join(models_dir, model, "1")
                if not os.path.islink(link):
                    os.symlink(final, link)
            cached = os.path.join(directory, "eval.json")
            if os.path.exists(cached):
                cases += json.load(open(cached))
                continue
            scored = segment_and_score(names, [m for m, _ in pairs], models_dir, directory)
            json.dump(scored, open(cached, "w"))
            cases += scored
        if cases:
            per_case[label] = cases
            print(row(label, cases), flush=True)
        else:
            print(f"| {label} | 0 | (no fold finished for every member) |")
    print_per_case(per_case)


def print_per_case(per_case):
    print("\nPer case, Dice WT/TC/ET:")
    names = sorted({c["case"] for cases in per_case.values() for c in cases})
    print("| case | " + " | ".join(per_case) + " |")
    print("|---|" + "---|" * len(per_case))
    for name in names:
        cells = []
        for cases in per_case.values():
            match = [c for c in cases if c["case"] == name]
            cells.append("/".join(f"{match[0]['metrics'][r]['dice']:.2f}" for r in REGIONS) if match else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    g = commands.add_parser("gate")
    g.add_argument("models_dir")
    g.add_argument("--out")
    g.add_argument("--precision", help="fp32, bf16, int8 or per model (segment --precision); default: the daemon's defaults")
    c = commands.add_parser("cv")
    c.add_argument("rows", nargs="+", help="LABEL=MODEL:RECIPE[+MODEL:RECIPE…]")
    c.add_argument("--out")
    c.add_argument("--folds", type=lambda text: [int(k) for k in text.split(",")], help="only these folds (e.g. 1,2)")
    arguments = parser.parse_args()
    gate(arguments) if arguments.command == "gate" else cv(arguments)


if __name__ == "__main__":
    main()
