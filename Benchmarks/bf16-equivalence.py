#!/usr/bin/env python3
"""Reduced-precision equivalence check (issue #12): does bfloat16 (or int8) inference give the
same masks as float32?

For each model, segments the real labelled cases with `brainseg segment --models M --precision
fp32` and `--precision P` (P = bf16, or int8 with `--precision int8`), scores both with
`brainseg eval` against the expert labels, and compares the mean Dice per region; then runs the
daemon (`brainseg serve`) on the same cases with every model in fp32 and in P and compares the
pool's confidence scores and admissions from the reports. A model passes when each region's mean Dice is within 0.002 of fp32; the pool check
passes when the mean confidence score is within 0.002 and no admission changes.

    Benchmarks/bf16-equivalence.py --brainseg .build/release/brainseg --models-dir models \\
        [--precision int8] ../shared/data/brats18/labelled > Benchmarks/results/bf16-equivalence.md

Standard library only. Prints a Markdown report; exits 1 when a check fails.
"""
import argparse, glob, json, os, re, shutil, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from daemon_reports import reports_from_daemon  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--brainseg", required=True)
parser.add_argument("--models-dir", required=True)
parser.add_argument("--models", default="unet,resunet-vae,cascade,student")
parser.add_argument("--tolerance", type=float, default=0.002)
parser.add_argument("--precision", default="bf16", choices=["bf16", "int8"], help="the reduced precision compared with fp32")
parser.add_argument("--pool-models", help="comma-separated models run in the reduced precision in the pool check, the others "
                    "in fp32 (default: every model): the daemon's mix, e.g. int8 for the cascade alone")
parser.add_argument("--work", help="scratch folder (default: a temporary one, deleted afterwards)")
parser.add_argument("labelled", help="folder of labelled case folders")
args = parser.parse_args()
work = args.work or tempfile.mkdtemp(prefix=f"brainseg-{args.precision}-")
cases = sorted(p for p in glob.glob(os.path.join(args.labelled, "*")) if os.path.isdir(p))
regions = ["WT", "TC", "ET"]
failed = False
# This checks equivalence, not speed: bf16 must run even where the start-up probe would keep
# fp32 because bf16 is not faster (BFloat16Choice); every brainseg below inherits this.
os.environ["BRAINSEG_BF16"] = "on"


def segment(model, precision):
    out = os.path.join(work, f"{model}-{precision}")
    shutil.rmtree(out, ignore_errors=True)
    started = time.time()
    run = subprocess.run([args.brainseg, "segment", *cases, "--out", out, "--models", model, "--precision", precision,
                          "--models-dir", args.models_dir], capture_output=True, text=True, check=True)
    seconds = [float(m) for m in re.findall(r"  ([0-9.]+) s$", run.stdout, re.M)]
    scores = json.loads(subprocess.run([args.brainseg, "eval", "--pred", out, "--truth", args.labelled, "--json"],
                                       capture_output=True, text=True, check=True).stdout)
    dice = {r: [c["metrics"][r]["dice"] for c in scores["cases"]] for r in regions}
    return dice, statistics.median(seconds), time.time() - started


P = args.precision
print(f"# {P} equivalence check\n\n{len(cases)} labelled cases from `{args.labelled}`; "
      f"`brainseg segment --models M --precision fp32|{P}` then `brainseg eval`; tolerance {args.tolerance} "
      "in mean Dice per region.\n")
print(f"| model | mean Dice fp32 WT/TC/ET | mean Dice {P} WT/TC/ET | largest per-case |ΔDice| | median s/case fp32 → {P} | verdict |")
print("|---|---|---|---|---|---|")
passing = []
for model in args.models.split(","):
    exact, exact_seconds, _ = segment(model, "fp32")
    reduced, reduced_seconds, _ = segment(model, P)
    means = lambda d: "/".join("%.4f" % statistics.mean(d[r]) for r in regions)
    gaps = [abs(statistics.mean(exact[r]) - statistics.mean(reduced[r])) for r in regions]
    worst = max(abs(a - b) for r in regions for a, b in zip(exact[r], reduced[r]))
    ok = max(gaps) <= args.tolerance
    passing += [model] if ok else []
    failed |= not ok
    print(f"| {model} | {means(exact)} | {means(reduced)} | {worst:.4f} | {exact_seconds:.1f} → {reduced_seconds:.1f} | "
          f"{'pass' if ok else 'FAIL'} (max mean gap {max(gaps):.4f}) |")


ALL_MODELS = ["unet", "resunet-vae", "cascade", "student"]
POOL_MODELS = args.pool_models.split(",") if args.pool_models else ALL_MODELS
POOL_LABEL = f"every model {P}" if POOL_MODELS == ALL_MODELS else f"{', '.join(POOL_MODELS)} in {P} and the others in fp32"


def daemon(precision):
    table = "".join(f'"{m}" = "{precision if m in POOL_MODELS else "fp32"}"\n' for m in ALL_MODELS)
    root = os.path.join(work, f"daemon-{precision}")
    shutil.rmtree(root, ignore_errors=True)
    return reports_from_daemon(args.brainseg, root, args.models_dir, cases, extra_config="[models.precision]\n" + table)


exact, reduced = daemon("fp32"), daemon(P)
names = sorted(set(exact) & set(reduced))
score = lambda report: report["confidence"]["score"]
admitted = lambda report: report["confidence"]["admittedToPool"]
gaps = [score(reduced[n]) - score(exact[n]) for n in names]
changed = [n for n in names if admitted(exact[n]) != admitted(reduced[n])]
mean_gap = abs(statistics.mean(gaps)) if gaps else float("inf")
pool_ok = len(names) == len(cases) and mean_gap <= args.tolerance and not changed
failed |= not pool_ok
print(f"\nPool confidence (`brainseg serve`, every model fp32 vs {POOL_LABEL}, {len(names)} of {len(cases)} reports): "
      f"mean score fp32 {statistics.mean(score(exact[n]) for n in names):.4f}, {P} {statistics.mean(score(reduced[n]) for n in names):.4f}, "
      f"mean gap {mean_gap:.4f}, largest per-case gap {max(abs(g) for g in gaps):.4f}; admissions changed: "
      f"{', '.join(changed) if changed else 'none'} → {'pass' if pool_ok else 'FAIL'}.")
print(f"\nModels that pass: {', '.join(passing) if passing else 'none'}.")
if not args.work:
    shutil.rmtree(work, ignore_errors=True)
sys.exit(1 if failed else 0)
