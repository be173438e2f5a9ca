#!/usr/bin/env python3
"""Per-case effect of EnhancementCheck ("ET must enhance", brainseg since 2026-12-07), issue #11.

The check is a fixed rule applied to a finished label map, so one set of masks gives both
sides: the masks as the ensemble made them (before) and after the rule, ported here voxel for
voxel (it matches brainseg's own output: 0 differing voxels on the gate's cases).

  scripts/enhancement-check.py GATE_MASKS
      13 out-of-fold cases: the default ensemble of the cross-validated recipes
      ($RUNS/<recipe>/fold<k>/prob, see cv-ensemble.py), labels by cv-ensemble.py's port.
      4 gate cases: the `_seg.nii.gz` masks in GATE_MASKS written by a brainseg without the
      check (`brainseg segment <the 4 hold-out cases> --out GATE_MASKS`, shipped models).
Prints a per-case table of ET and TC Dice before and after, the means and a sign-flip test.
Environment as cv-ensemble.py. Needs numpy, scipy, nibabel.
"""
import importlib.util
import os
import sys

import nibabel
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
_spec = importlib.util.spec_from_file_location("cv_ensemble", os.path.join(HERE, "cv-ensemble.py"))
cve = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cve)

MEMBERS = [("unet", "unet-2500-bf16"), ("resunet-vae", "resunet-2000-bf16"), ("cascade", "cascade-full1600"),
           ("student", "student-1500-bf16")]
GATE = ["Brats18_2013_3_1", "Brats18_CBICA_AQN_1", "Brats18_TCIA02_606_1", "Brats18_TCIA10_628_1"]


def check(labels, t1, t1ce, min_enhancing=32):
    """EnhancementCheck.relabelNonEnhancing on whole volumes (flat arrays)."""
    healthy = (t1 > 0) & (labels == 0)
    if not healthy.any():
        return labels
    m1, mce = np.median(t1[healthy]), np.median(t1ce[healthy])
    if m1 <= 0 or mce <= 0:
        return labels
    out = labels.copy()
    out[(labels == 4) & ~(t1ce / mce - t1 / m1 > 0)] = 1
    if 0 < (out == 4).sum() <= min_enhancing:
        out[out == 4] = 1
    return out


def dice(a, b):
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2.0 * (a & b).sum() / total


def regions(labels):
    return [labels > 0, (labels == 1) | (labels == 4), labels == 4]


def flat(path, dtype=None):
    return np.asarray(nibabel.load(path).dataobj, dtype=dtype).ravel()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rows = []
    models = [m for m, _ in MEMBERS]
    for fold, names in cve.FOLDS.items():
        for name in names:
            case = cve.Case(name, fold, MEMBERS)
            probabilities = case.average(cve.uniform(models))
            before = case.labels(probabilities, dict(cve.DEFAULT, require_enhancement=False))
            after = case.labels(probabilities, cve.DEFAULT)
            truth = [t for t in case.truth]
            rows.append(("out of fold", name, [dice(p, t) for p, t in zip(regions(before), truth)],
                         [dice(p, t) for p, t in zip(regions(after), truth)]))
    for name in GATE:
        folder = os.path.join(cve.DATA, name)
        before = flat(os.path.join(sys.argv[1], f"{name}_seg.nii.gz"))
        truth = flat(os.path.join(folder, f"{name}_seg.nii.gz"))
        after = check(before, flat(os.path.join(folder, f"{name}_t1.nii.gz"), np.float32),
                      flat(os.path.join(folder, f"{name}_t1ce.nii.gz"), np.float32))
        rows.append(("gate", name, [dice(p, t) for p, t in zip(regions(before), regions(truth))],
                     [dice(p, t) for p, t in zip(regions(after), regions(truth))]))
    print("| set | case | ET before | ET after | TC before | TC after |")
    print("|---|---|---|---|---|---|")
    for group, name, before, after in rows:
        print(f"| {group} | {name} | {before[2]:.3f} | {after[2]:.3f} | {before[1]:.3f} | {after[1]:.3f} |")
    print()
    for group in ["out of fold", "gate"]:
        part = [r for r in rows if r[0] == group]
        change = [r[3][2] - r[2][2] for r in part]
        print(f"{group}: {len(part)} cases, ET {np.mean([r[2][2] for r in part]):.4f} → {np.mean([r[3][2] for r in part]):.4f}, "
              f"mean of three regions {np.mean([np.mean(r[2]) for r in part]):.4f} → {np.mean([np.mean(r[3]) for r in part]):.4f}, "
              f"better {sum(c > 1e-9 for c in change)}, worse {sum(c < -1e-9 for c in change)}")
    change = np.array([r[3][2] - r[2][2] for r in rows])
    flips = np.random.default_rng(1).choice([-1, 1], size=(20000, len(change)))
    print(f"all {len(rows)}: ET change mean {change.mean():+.4f}, median {np.median(change):+.4f}, "
          f"sign-flip p (one-sided) {((flips * change).mean(axis=1) >= change.mean()).mean():.3f}")


if __name__ == "__main__":
    main()
