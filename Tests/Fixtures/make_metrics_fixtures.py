#!/usr/bin/env python3
"""Reference values for brainseg's segmentation metrics, computed with medpy (dc, hd95,
sensitivity, specificity) and numpy, on small synthetic label-map pairs written as NIfTI.

Covers: overlapping blobs, disjoint blobs, nested BraTS labels, empty/empty, empty/non-empty
(where medpy raises, the BraTS conventions of MODELS.md apply), anisotropic voxels, masks
touching the grid border. Pinned: medpy==0.5.2, nibabel==5.4.2, numpy==2.4.6, scipy==1.17.1.

Usage:  python3 Tests/Fixtures/make_metrics_fixtures.py
"""
import gzip
import json
import os

import nibabel as nib
import numpy as np
from medpy.metric import binary

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metrics")
SHAPE = (20, 18, 16)
EMPTY_DISTANCE = 373.13
REGIONS = {"WT": (1, 2, 4), "TC": (1, 4), "ET": (4,)}


def ball(center, radius, spacing):
    grid = np.indices(SHAPE).astype(np.float64)
    distance = sum(((grid[a] - center[a]) * spacing[a]) ** 2 for a in range(3))
    return distance <= radius ** 2


def tumour(center, radius, spacing, core=0.6, enhancing=0.35):
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[ball(center, radius, spacing)] = 2
    labels[ball(center, radius * core, spacing)] = 1
    labels[ball(center, radius * enhancing, spacing)] = 4
    return labels


def metrics(prediction, truth, spacing):
    result = {}
    for region, labels in REGIONS.items():
        p = np.isin(prediction, labels)
        g = np.isin(truth, labels)
        if not p.any() and not g.any():
            dice, hd95, sens = 1.0, 0.0, 1.0
        elif not p.any() or not g.any():
            dice, hd95 = 0.0, EMPTY_DISTANCE
            sens = 0.0
        else:
            dice = binary.dc(p, g)
            hd95 = binary.hd95(p, g, voxelspacing=spacing)
            sens = binary.sensitivity(p, g)
        spec = binary.specificity(p, g) if (~g).any() else 1.0
        result[region] = {"dice": float(dice), "hausdorff95": float(hd95), "sensitivity": float(sens),
                          "specificity": float(spec), "predictedVoxels": int(p.sum()), "truthVoxels": int(g.sum())}
    return result


def save(labels, spacing, name):
    affine = np.diag(list(spacing) + [1.0])
    img = nib.Nifti1Image(labels, affine)
    img.header.set_slope_inter(1.0, 0.0)
    raw = os.path.join(HERE, name[:-3])
    nib.save(img, raw)
    with open(raw, "rb") as source, open(os.path.join(HERE, name), "wb") as target:
        with gzip.GzipFile(filename="", mode="wb", fileobj=target, mtime=0) as gz:
            gz.write(source.read())
    os.remove(raw)


def main():
    os.makedirs(HERE, exist_ok=True)
    for old in os.listdir(HERE):
        os.remove(os.path.join(HERE, old))
    iso = (1.0, 1.0, 1.0)
    aniso = (0.8, 1.2, 2.5)
    pairs = {
        "overlap": (tumour((9, 8, 7), 5, iso), tumour((10, 9, 7), 5.5, iso), iso),
        "overlap_anisotropic": (tumour((9, 8, 7), 5, aniso), tumour((11, 8, 8), 4.5, aniso), aniso),
        "disjoint": (tumour((4, 4, 4), 3, iso), tumour((15, 13, 11), 3, iso), iso),
        "border_touching": (tumour((0, 9, 8), 6, iso), tumour((2, 9, 8), 6, iso), iso),
        "empty_empty": (np.zeros(SHAPE, np.uint8), np.zeros(SHAPE, np.uint8), iso),
        "empty_prediction": (np.zeros(SHAPE, np.uint8), tumour((9, 8, 7), 4, iso), iso),
        "empty_truth": (tumour((9, 8, 7), 4, aniso), np.zeros(SHAPE, np.uint8), aniso),
        "no_enhancing_truth": (tumour((9, 8, 7), 5, iso), tumour((9, 8, 7), 5, iso, enhancing=0.0), iso),
    }
    expected = {}
    for name, (prediction, truth, spacing) in pairs.items():
        save(prediction, spacing, f"{name}_pred.nii.gz")
        save(truth, spacing, f"{name}_truth.nii.gz")
        expected[name] = {"spacing": list(spacing), "regions": metrics(prediction, truth, spacing)}
    with open(os.path.join(HERE, "expected.json"), "w") as handle:
        json.dump(expected, handle, indent=1, sort_keys=True)
        handle.write("\n")
    print(f"wrote {len(pairs)} pairs to {HERE}")


if __name__ == "__main__":
    main()
