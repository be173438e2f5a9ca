#!/usr/bin/env python3
"""Relates the pool's confidence checks to the true Dice of the ensemble (issue: pool thresholds).

Runs `brainseg serve` on a scratch root with the given models and `[pool] admit_labelled = false`,
drops labelled cases into it, and tabulates, per case, the confidence checks from the report
(`confidence.reasons`) next to the ensemble's true Dice (`evaluation`):

    scripts/calibrate-pool.py --brainseg .build/release/brainseg --models-dir models \
        ../shared/data/brats18/labelled/Brats18_2013_3_1 ...

Standard library only.
"""
import argparse, os, re, shutil, tempfile

from daemon_reports import reports_from_daemon

parser = argparse.ArgumentParser()
parser.add_argument("--brainseg", required=True)
parser.add_argument("--models-dir", required=True)
parser.add_argument("--root", help="scratch root (default: a temporary folder, deleted afterwards)")
parser.add_argument("cases", nargs="+")
args = parser.parse_args()

root = args.root or tempfile.mkdtemp(prefix="brainseg-calibrate-")
names = [os.path.basename(case.rstrip("/")) for case in args.cases]
reports = reports_from_daemon(args.brainseg, root, args.models_dir, args.cases, timeout=60 * 30)

number = r"([0-9.]+)"
print("| case | teacher Dice WT/TC/ET | WT entropy | WT mL | largest comp. | score | admitted | ensemble Dice WT/TC/ET |")
print("|---|---|---|---|---|---|---|---|")
for name in names:
    report = reports.get(name)
    if report is None:
        print(f"| {name} | (no report) |")
        continue
    reasons = " ; ".join(report["confidence"]["reasons"])
    def grab(pattern):
        match = re.search(pattern, reasons)
        return match.group(1) if match else "?"
    teachers = "/".join(grab(rf"teacher {r} Dice {number}") for r in ("WT", "TC", "ET"))
    dice = report.get("evaluation", {})
    truth = "/".join(f'{dice.get(r, {}).get("dice", float("nan")):.3f}' for r in ("WT", "TC", "ET"))
    print(f'| {name} | {teachers} | {grab(rf"WT entropy {number}")} | {grab(rf"WT volume {number}")} | '
          f'{grab(rf"largest component {number}")} | {report["confidence"]["score"]:.3f} | '
          f'{"yes" if report["confidence"]["admittedToPool"] else "no"} | {truth} |')
if not args.root:
    shutil.rmtree(root)
