#!/usr/bin/env python3
"""Relates the pool's confidence checks to the true Dice of the ensemble (issue: pool thresholds).

Runs `brainseg serve` on a scratch root with the given models and `[pool] admit_labelled = false`,
drops labelled cases into it, and tabulates, per case, the confidence checks from the report
(`confidence.reasons`) next to the ensemble's true Dice (`evaluation`):

    scripts/calibrate-pool.py --brainseg .build/release/brainseg --models-dir models \
        ../shared/data/brats18/labelled/Brats18_2013_3_1 ...

Standard library only.
"""
import argparse, json, os, re, shutil, signal, subprocess, sys, tempfile, time

parser = argparse.ArgumentParser()
parser.add_argument("--brainseg", required=True)
parser.add_argument("--models-dir", required=True)
parser.add_argument("--root", help="scratch root (default: a temporary folder, deleted afterwards)")
parser.add_argument("cases", nargs="+")
args = parser.parse_args()

root = args.root or tempfile.mkdtemp(prefix="brainseg-calibrate-")
os.makedirs(root, exist_ok=True)
config = os.path.join(root, "brainseg.toml")
with open(config, "w") as f:
    f.write(f'root = "{root}"\n[models]\ndirectory = "{os.path.abspath(args.models_dir)}"\n'
            '[watch]\nquiescence_seconds = 1\n[pool]\nadmit_labelled = false\n')
env = dict(os.environ, BRAINSEG_LOG_TARGET="stderr")
log = open(os.path.join(root, "daemon.log"), "w")
daemon = subprocess.Popen([args.brainseg, "serve", "--config", config], stdout=log, stderr=log, env=env)
try:
    time.sleep(3)
    names = []
    for case in args.cases:
        name = os.path.basename(case.rstrip("/"))
        shutil.copytree(case, os.path.join(root, "incoming", "." + name + ".part"))
        os.rename(os.path.join(root, "incoming", "." + name + ".part"), os.path.join(root, "incoming", name))
        names.append(name)
    reports = {}
    deadline = time.time() + 60 * 30
    while len(reports) < len(names) and time.time() < deadline:
        for name in names:
            path = os.path.join(root, "output", name, f"{name}_report.json")
            if name not in reports and os.path.exists(path):
                reports[name] = json.load(open(path))
        time.sleep(1)
finally:
    daemon.send_signal(signal.SIGTERM)
    daemon.wait()

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
