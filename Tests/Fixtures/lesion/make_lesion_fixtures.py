#!/usr/bin/env python3
"""Reference values for brainseg's lesion-wise metrics (`brainseg eval --metrics lesion`),
computed by the official BraTS evaluator: PyPI `brats-evaluation` (AGPL-3.0) with its bundled
`gli` configuration, on panoptica. Nothing of the evaluator is copied into brainseg; it only
produces the expected numbers. Run through make_lesion_fixtures.sh, which installs the pinned
versions (requirements.txt beside this file) in a venv outside the repository.

Writes, next to this script:
  synthetic/<pair>_pred.nii.gz, synthetic/<pair>_truth.nii.gz   small synthetic edge cases
  expected_synthetic.json                                       evaluator figures per pair and region
  expected_real.json (with --data DIR --predictions DIR)        figures for real predictions, whose
      masks are committed in real/<case>_seg.nii.gz (our own model's output); the expert labels
      stay in DIR/brats18/labelled/<case>/<case>_seg.nii.gz and are never copied here.

Label maps are BraTS 2018 (1 NCR/NET, 2 edema, 4 ET); `gli` expects BraTS 2023 labels, where 4
is the resection cavity, so every map is converted 4 -> 3 before evaluation.

Usage:  Tests/Fixtures/lesion/make_lesion_fixtures.sh [--data ../shared/data --predictions DIR]
"""
import argparse
import json
import math
import os
import shutil
import tempfile

import nibabel as nib
import numpy as np
from brats_evaluation import config_path, evaluate_single_exam
from panoptica import Panoptica_Evaluator

HERE = os.path.dirname(os.path.abspath(__file__))
SYNTHETIC = os.path.join(HERE, "synthetic")
REAL = os.path.join(HERE, "real")
SHAPE = (24, 22, 16)
FIGURES = ["tp", "fp", "fn", "sq_dsc", "pq_dsc", "sq_hd95", "global_bin_dsc", "global_bin_hd95"]
REGIONS = {"wt": "WT", "tc": "TC", "et": "ET"}
REAL_CASES = ["Brats18_2013_3_1", "Brats18_CBICA_AQN_1", "Brats18_TCIA10_628_1"]


def ball(center, radius, spacing=(1.0, 1.0, 1.0)):
    grid = np.indices(SHAPE).astype(np.float64)
    return sum(((grid[a] - center[a]) * spacing[a]) ** 2 for a in range(3)) <= radius ** 2


def paint(labels, center, radius, spacing=(1.0, 1.0, 1.0)):
    """A nested tumour: edema shell (2), core (1), enhancing centre (4)."""
    labels[ball(center, radius, spacing)] = 2
    labels[ball(center, radius * 0.65, spacing)] = 1
    labels[ball(center, radius * 0.4, spacing)] = 4
    return labels


def empty():
    return np.zeros(SHAPE, dtype=np.uint8)


def box(labels, lower, upper, value):
    labels[lower[0]:upper[0], lower[1]:upper[1], lower[2]:upper[2]] = value
    return labels


def pairs():
    """name -> (prediction, truth, spacing)."""
    iso = (1.0, 1.0, 1.0)
    result = {}
    result["empty_empty"] = (empty(), empty(), iso)
    result["empty_prediction"] = (empty(), paint(empty(), (12, 11, 8), 5), iso)
    result["empty_truth"] = (paint(empty(), (12, 11, 8), 5), empty(), iso)
    # A single-voxel lesion (below any size limit other rules use) next to a large one, in both.
    truth = paint(empty(), (9, 10, 8), 5)
    truth[20, 19, 3] = 4
    prediction = paint(empty(), (10, 10, 8), 5)
    prediction[20, 19, 3] = 4
    result["tiny_lesion"] = (prediction, truth, iso)
    # The tiny lesion only in the truth (a missed one-voxel lesion) and a tiny spurious one.
    truth = paint(empty(), (9, 10, 8), 5)
    truth[20, 19, 3] = 1
    prediction = paint(empty(), (9, 11, 8), 5)
    prediction[2, 19, 13] = 2
    result["tiny_missed_and_spurious"] = (prediction, truth, iso)
    # Two lesions in the truth; the prediction finds only the first.
    truth = paint(paint(empty(), (6, 6, 6), 4), (17, 15, 9), 4)
    prediction = paint(empty(), (7, 6, 6), 4)
    result["two_lesions_one_missed"] = (prediction, truth, iso)
    # Two truth lesions that touch at an edge only (one 26-connected lesion); the prediction has
    # them with a gap (two lesions): one matches, the other is a false positive.
    truth = box(box(empty(), (4, 4, 4), (10, 10, 10), 2), (10, 10, 4), (16, 16, 10), 2)
    truth = box(truth, (6, 6, 6), (8, 8, 8), 4)
    prediction = box(box(empty(), (4, 4, 4), (10, 10, 10), 2), (11, 11, 4), (17, 17, 10), 2)
    prediction = box(prediction, (6, 6, 6), (8, 8, 8), 4)
    result["touching_lesions"] = (prediction, truth, iso)
    # One lesion found, plus a spurious one far away.
    truth = paint(empty(), (8, 8, 8), 5)
    prediction = paint(paint(empty(), (8, 9, 8), 5), (19, 17, 11), 3)
    result["spurious_lesion"] = (prediction, truth, iso)
    # One truth lesion split into two predicted pieces (only one can match), and a predicted
    # lesion bridging two truth lesions (one-to-one: the better overlap wins).
    truth = box(box(empty(), (2, 2, 2), (8, 8, 8), 1), (2, 12, 2), (8, 18, 8), 1)
    truth = box(truth, (14, 4, 4), (22, 16, 12), 2)
    prediction = box(box(empty(), (2, 2, 2), (8, 18, 5), 1), (14, 4, 4), (22, 9, 12), 2)
    prediction = box(prediction, (14, 11, 4), (22, 16, 12), 2)
    result["split_and_bridge"] = (prediction, truth, iso)
    # Lesions present on both sides that do not overlap at all.
    result["disjoint"] = (paint(empty(), (6, 6, 8), 4), paint(empty(), (18, 16, 8), 4), iso)
    # Anisotropic voxels: per-lesion HD95 in mm, global HD95 in voxels (the evaluator does not
    # pass the voxel size to its global metrics).
    spacing = (1.0, 1.5, 2.5)
    truth = paint(paint(empty(), (7, 7, 6), 6, spacing), (18, 16, 11), 4, spacing)
    prediction = paint(empty(), (8, 7, 6), 6, spacing)
    prediction = paint(prediction, (18, 15, 10), 4, spacing)
    result["anisotropic"] = (prediction, truth, spacing)
    return result


def save(labels, spacing, path):
    image = nib.Nifti1Image(labels.astype(np.uint8), np.diag(list(spacing) + [1.0]))
    image.header.set_xyzt_units("mm")
    image.set_qform(image.affine, code=1)
    image.set_sform(image.affine, code=1)
    nib.save(image, path)


def as_gli(source, target):
    """A copy of a BraTS 2018 label map with ET 4 -> 3 (gli's label for enhancing tumour)."""
    image = nib.load(source)
    labels = np.asarray(image.dataobj).astype(np.uint8)
    labels[labels == 4] = 3
    nib.save(nib.Nifti1Image(labels, image.affine, image.header), target)


def finite_or_text(value):
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def evaluate(evaluator, prediction_path, truth_path, name, scratch):
    prediction = os.path.join(scratch, f"{name}_pred.nii.gz")
    truth = os.path.join(scratch, f"{name}_truth.nii.gz")
    as_gli(prediction_path, prediction)
    as_gli(truth_path, truth)
    result = evaluate_single_exam(prediction, truth, name, evaluator)
    if "error" in result:
        raise SystemExit(f"{name}: the evaluator failed: {result['error']}")
    out = {}
    for group, region in REGIONS.items():
        figures = result[group]
        out[region] = {k: (int(figures[k]) if k in ("tp", "fp", "fn") else finite_or_text(figures[k])) for k in FIGURES}
    return out


def write_json(data, path):
    with open(path, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", help="the shared data folder (holds brats18/labelled)")
    parser.add_argument("--predictions", help="folder with <case>_seg.nii.gz predicted by brainseg segment")
    args = parser.parse_args()
    evaluator = Panoptica_Evaluator.load_from_config(str(config_path("gli")))
    scratch = tempfile.mkdtemp(prefix="brainseg-lesion-")
    try:
        os.makedirs(SYNTHETIC, exist_ok=True)
        expected = {}
        for name, (prediction, truth, spacing) in pairs().items():
            prediction_path = os.path.join(SYNTHETIC, f"{name}_pred.nii.gz")
            truth_path = os.path.join(SYNTHETIC, f"{name}_truth.nii.gz")
            save(prediction, spacing, prediction_path)
            save(truth, spacing, truth_path)
            expected[name] = evaluate(evaluator, prediction_path, truth_path, name, scratch)
        write_json(expected, os.path.join(HERE, "expected_synthetic.json"))
        if args.data and args.predictions:
            os.makedirs(REAL, exist_ok=True)
            expected = {}
            for case in REAL_CASES:
                committed = os.path.join(REAL, f"{case}_seg.nii.gz")
                shutil.copyfile(os.path.join(args.predictions, f"{case}_seg.nii.gz"), committed)
                truth = os.path.join(args.data, "brats18", "labelled", case, f"{case}_seg.nii.gz")
                expected[case] = evaluate(evaluator, committed, truth, case, scratch)
            write_json(expected, os.path.join(HERE, "expected_real.json"))
    finally:
        shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
