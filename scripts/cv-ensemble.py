#!/usr/bin/env python3
"""Cross-validated choice of the ensemble's member weights, thresholds and post-processing (#11).

Works on the out-of-fold predictions of `scripts/cross-validate.sh`: every case of the 13
non-gate labelled cases is predicted by models that never saw it.

  scripts/cv-ensemble.py predict unet=unet-baseline cascade=cascade-baseline …
      For every fold whose run is finished, writes each member's region probabilities
      ($RUNS/<recipe>/fold<k>/prob/<case>_prob_{WT,TC,ET}.nii.gz) with `brainseg segment
      --models <member> --probabilities`, the same inference a hospital runs (default precision).
  scripts/cv-ensemble.py analyse unet=unet-baseline … [--json OUT]
      Loads the cases every member has, checks this script's label-map port against the
      `_seg.nii.gz` brainseg wrote (must match voxel for voxel), then compares selection
      procedures by nested cross-validation: each procedure picks its setting on three folds and
      is scored on the fourth, so the figures are not biased by the choice. Prints the tables
      and the setting each procedure picks on all 13 cases. --folds 1,2 restricts the cases (to
      compare ensembles on the same cases); --defaults-only skips every search.

Environment: RUNS (default /work/cv-runs), BRAINSEG (default the release build), BRAINSEG_DATA
(default ../shared/data). Needs numpy, scipy, nibabel.
"""
import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys

import nibabel
import numpy as np
from scipy import ndimage

from cv_protocol import DATA, FOLDS, REGIONS, RUNS, brainseg, fold_dir

# Probabilities at or below this are below every threshold tried, so only voxels above it (or in
# the truth) are kept per case: the weight and threshold search runs on those.
CANDIDATE_FLOOR = 0.2
WEIGHT_GRID = [0.0, 1.0, 2.0]
THRESHOLD_GRID = [0.3, 0.4, 0.5, 0.6]
MIN_ENHANCING_GRID = [32, 100, 250, 500, 1000]
# Component filters: (basis, fraction) removes the tumour components smaller than fraction × the
# total tumour volume ("total", brainseg's rule) or × the largest component ("largest"; 1.0 keeps
# the largest component only).
COMPONENT_GRID = [("total", 0.0), ("total", 0.05), ("total", 0.1), ("total", 0.2),
                  ("largest", 0.25), ("largest", 0.5), ("largest", 1.0)]
# require_enhancement: EnhancementCheck (brainseg since 2026-12-07): ET that does not enhance becomes core.
DEFAULT = {"threshold": [0.5, 0.5, 0.5], "min_enhancing": 32, "component_fraction": 0.1, "component_basis": "total",
           "require_enhancement": True}
LARGEST_ONLY = dict(DEFAULT, component_fraction=1.0, component_basis="largest")


def parse_members(pairs):
    """MODEL=RECIPE pairs. Two recipes of one model are told apart by a suffix: `student#2=…`
    names the member `student#2` and segments with the model `student`."""
    members = []
    for pair in pairs:
        model, _, recipe = pair.partition("=")
        if not recipe:
            sys.exit(f"member {pair!r}: expected MODEL=RECIPE")
        if model in dict(members):
            sys.exit(f"member {model!r} given twice: name the second one {model}#2=RECIPE")
        members.append((model, recipe))
    return members


def model_name(member):
    """The brainseg model a member runs: its name without a `#…` suffix."""
    return member.partition("#")[0]


# The folder of a fold's probability maps: "prob", or "prob-tta" with mirror test-time augmentation.
PROBABILITIES = "prob"


def predict(members, tta):
    binary = brainseg()
    for model, recipe in members:
        for fold, cases in FOLDS.items():
            directory = fold_dir(recipe, fold)
            if not os.path.exists(os.path.join(directory, "run", "final", "model.json")):
                continue
            prob = os.path.join(directory, PROBABILITIES)
            if all(os.path.exists(os.path.join(prob, f"{c}_prob_ET.nii.gz")) for c in cases):
                continue
            print(f"{model} {recipe} fold {fold}: segmenting {len(cases)} cases", flush=True)
            subprocess.run([binary, "segment", *[os.path.join(DATA, c) for c in cases], "--out", prob + ".tmp",
                            "--models", model_name(model), "--models-dir", os.path.join(directory, "models"), "--probabilities"] + (["--tta"] if tta else []), check=True)
            os.replace(prob + ".tmp", prob)


def load(path):
    return np.asarray(nibabel.load(path).dataobj)


class Case:
    """One case's truth and its members' region probabilities at the candidate voxels."""

    def __init__(self, name, fold, members):
        self.name, self.fold = name, fold
        truth = load(os.path.join(DATA, name, f"{name}_seg.nii.gz")).astype(np.uint8)
        self.shape = truth.shape
        dense = {}
        for model, recipe in members:
            prob = os.path.join(fold_dir(recipe, fold), PROBABILITIES)
            dense[model] = [load(os.path.join(prob, f"{name}_prob_{r}.nii.gz")).astype(np.float32) for r in REGIONS]
        candidate = truth > 0
        for channels in dense.values():
            for p in channels:
                candidate |= p > CANDIDATE_FLOOR
        self.index = np.flatnonzero(candidate)
        self.prob = {m: np.stack([p.ravel()[self.index] for p in channels]) for m, channels in dense.items()}
        t = truth.ravel()[self.index]
        self.truth = [t > 0, (t == 1) | (t == 4), t == 4]
        outside = np.ones(truth.shape, dtype=bool)
        images = {}
        for modality in ["t1", "t1ce", "t2", "flair"]:
            images[modality] = load(os.path.join(DATA, name, f"{name}_{modality}.nii.gz")).astype(np.float32).ravel()
            outside &= (images[modality] == 0).reshape(truth.shape)
        self.outside = outside.ravel()[self.index]
        # EnhancementCheck's inputs: T1 and T1ce over the brain (T1 > 0) and at the candidates.
        self.brain = np.flatnonzero(images["t1"] > 0)
        self.brain_t1, self.brain_t1ce = images["t1"][self.brain], images["t1ce"][self.brain]
        self.t1, self.t1ce = images["t1"][self.index], images["t1ce"][self.index]
        # The mask brainseg wrote from the same probabilities (one member alone).
        self.seg = {m: load(os.path.join(fold_dir(r, fold), PROBABILITIES, f"{name}_seg.nii.gz")).astype(np.uint8).ravel()[self.index]
                    for m, r in members}

    def average(self, weights):
        """weights: per region, a dict model → weight. Returns 3×n probabilities."""
        out = np.zeros((3, len(self.index)), dtype=np.float32)
        for r in range(3):
            total = sum(weights[r].values())
            for model, w in weights[r].items():
                if w:
                    out[r] += (w / total) * self.prob[model][r]
        return out

    def labels(self, p, setting, components=True):
        """LabelMapBuilder.labels + EnhancementCheck + CaseSegmenter.maskOutsideBrain, at the
        candidate voxels."""
        tw, tc, te = setting["threshold"]
        lab = np.zeros(len(self.index), dtype=np.uint8)
        lab[p[0] > tw] = 2
        lab[p[1] > tc] = 1
        et = p[2] > te
        lab[et] = 4 if et.sum() > setting["min_enhancing"] else 1
        if components and setting["component_fraction"] > 0:
            lab = self.remove_small_components(lab, setting["component_fraction"], setting["component_basis"])
        lab[self.outside] = 0
        if setting.get("require_enhancement", False):
            lab = self.relabel_non_enhancing(lab, setting["min_enhancing"])
        return lab

    def relabel_non_enhancing(self, lab, min_enhancing):
        """EnhancementCheck.relabelNonEnhancing: ET with t1ce/median − t1/median ≤ 0 (medians over
        the healthy brain: T1 > 0, label 0) becomes 1; then all ET when at most min_enhancing is left."""
        healthy = np.ones(len(self.brain), dtype=bool)
        tumour = self.index[lab != 0]
        position = np.searchsorted(self.brain, tumour)
        inside = position < len(self.brain)
        inside[inside] = self.brain[position[inside]] == tumour[inside]
        healthy[position[inside]] = False
        if not healthy.any():
            return lab
        m1, mce = np.median(self.brain_t1[healthy]), np.median(self.brain_t1ce[healthy])
        if m1 <= 0 or mce <= 0:
            return lab
        out = lab.copy()
        out[(lab == 4) & ~(self.t1ce / mce - self.t1 / m1 > 0)] = 1
        remaining = int((out == 4).sum())
        if 0 < remaining <= min_enhancing:
            out[out == 4] = 1
        return out

    def remove_small_components(self, lab, fraction, basis):
        volume = np.zeros(int(np.prod(self.shape)), dtype=bool)
        volume[self.index[lab != 0]] = True
        ids, count = ndimage.label(volume.reshape(self.shape), structure=np.ones((3, 3, 3)))
        if count <= 1:
            return lab
        ids = ids.ravel()[self.index]
        sizes = np.bincount(ids)[1:]
        reference = sizes.sum() if basis == "total" else sizes.max()
        keep = np.concatenate([[False], sizes >= reference * fraction])
        out = lab.copy()
        out[(ids > 0) & ~keep[ids]] = 0
        return out

    def dice(self, lab):
        predicted = [lab > 0, (lab == 1) | (lab == 4), lab == 4]
        out = []
        for p, g in zip(predicted, self.truth):
            both = p.sum() + g.sum()
            out.append(1.0 if both == 0 else 2.0 * (p & g).sum() / both)
        return out


def score(cases, weights, setting, components=True):
    return {c.name: c.dice(c.labels(c.average(weights), setting, components)) for c in cases}


def uniform(models):
    return [{m: 1.0 for m in models} for _ in REGIONS]


def mean_dice(scores, region=None):
    values = [d[region] if region is not None else sum(d) / 3 for d in scores.values()]
    return sum(values) / len(values)


# Selection procedures: each maps training cases to (weights, setting).
def procedure_fixed(models):
    return lambda cases: (uniform(models), dict(DEFAULT))


def procedure_global_weights(models, tune_threshold=False):
    def choose(cases):
        best = None
        for w in itertools.product(WEIGHT_GRID, repeat=len(models)):
            if not any(w):
                continue
            weights = [dict(zip(models, w)) for _ in REGIONS]
            for t in (THRESHOLD_GRID if tune_threshold else [0.5]):
                setting = dict(DEFAULT, threshold=[t, t, t])
                value = mean_dice(score(cases, weights, setting, components=False))
                if best is None or value > best[0] + 1e-12:
                    best = (value, weights, setting)
        return best[1], best[2]
    return choose


def procedure_region_weights(models, tune_threshold=False):
    """Weights (and threshold) per region, each chosen by that region's Dice alone."""
    def choose(cases):
        weights, thresholds = [], []
        for r in range(3):
            best = None
            for w in itertools.product(WEIGHT_GRID, repeat=len(models)):
                if not any(w):
                    continue
                for t in (THRESHOLD_GRID if tune_threshold else [0.5]):
                    candidate = [dict(zip(models, w)) if k == r else {m: 1.0 for m in models} for k in range(3)]
                    setting = dict(DEFAULT, threshold=[t if k == r else 0.5 for k in range(3)])
                    value = mean_dice(score(cases, candidate, setting, components=False), r)
                    if best is None or value > best[0] + 1e-12:
                        best = (value, dict(zip(models, w)), t)
            weights.append(best[1])
            thresholds.append(best[2])
        return weights, dict(DEFAULT, threshold=thresholds)
    return choose


def with_postprocessing(inner):
    """`inner`'s weights and thresholds, then the ET volume and component fraction on top."""
    def choose(cases):
        weights, setting = inner(cases)
        best = None
        for minimum in MIN_ENHANCING_GRID:
            for basis, fraction in COMPONENT_GRID:
                candidate = dict(setting, min_enhancing=minimum, component_fraction=fraction, component_basis=basis)
                value = mean_dice(score(cases, weights, candidate))
                if best is None or value > best[0] + 1e-12:
                    best = (value, candidate)
        return weights, best[1]
    return choose


def nested(cases, choose):
    """Each fold scored with the setting chosen on the other folds."""
    scores = {}
    picks = {}
    for fold in sorted({c.fold for c in cases}):
        train = [c for c in cases if c.fold != fold]
        test = [c for c in cases if c.fold == fold]
        weights, setting = choose(train)
        picks[fold] = (weights, setting)
        scores.update(score(test, weights, setting))
    return scores, picks


def summary(scores):
    out = []
    for r, region in enumerate(REGIONS):
        values = [d[r] for d in scores.values()]
        out.append(f"{statistics.mean(values):.3f} ± {statistics.pstdev(values):.3f} ({statistics.median(values):.3f})")
    overall = statistics.mean(sum(d) / 3 for d in scores.values())
    return out, overall


def describe(weights, setting):
    w = "; ".join(f"{region} " + ",".join(f"{m}={v:g}" for m, v in weights[r].items()) for r, region in enumerate(REGIONS))
    return (f"weights {w}; thresholds {setting['threshold']}; min ET {setting['min_enhancing']}; "
            f"components ≥ {setting['component_fraction']} × {setting['component_basis']}")


def analyse(members, arguments):
    models = [m for m, _ in members]
    cases = []
    for fold, names in FOLDS.items():
        if arguments.folds and fold not in arguments.folds:
            continue
        for name in names:
            if all(os.path.exists(os.path.join(fold_dir(r, fold), PROBABILITIES, f"{name}_prob_ET.nii.gz")) for _, r in members):
                cases.append(Case(name, fold, members))
    folds = sorted({c.fold for c in cases})
    print(f"{len(cases)} cases from folds {folds}; members {', '.join(f'{m} ({r})' for m, r in members)}\n")
    # The port must reproduce brainseg's own label maps from the same probabilities.
    for c in cases:
        for model, seg in c.seg.items():
            # Masks written before 2026-12-07 lack the enhancement check: either form matches.
            mismatch = min(int((c.labels(c.prob[model], setting) != seg).sum())
                           for setting in (DEFAULT, dict(DEFAULT, require_enhancement=False)))
            if mismatch > 0:
                print(f"warning: {c.name} {model}: the port differs from brainseg's mask at {mismatch} voxels")
    def alone(model, setting):
        return lambda cs: ([{model: 1.0} for _ in REGIONS], dict(setting))

    # Fixed settings (nothing chosen) first, then the procedures that search on the training folds.
    alone_defaults = [(f"{m} alone (defaults)", alone(m, DEFAULT)) for m in models]
    alone_largest = [(f"{m} alone, largest component only", alone(m, LARGEST_ONLY)) for m in models]
    ensemble_defaults = ("ensemble, equal weights, defaults (today)", procedure_fixed(models))
    ensemble_no_check = ("ensemble, equal weights, defaults without the enhancement check (before 2026-12-07)",
                         lambda cs: (uniform(models), dict(DEFAULT, require_enhancement=False)))
    ensemble_largest = ("ensemble, equal weights, largest component only", lambda cs: (uniform(models), dict(LARGEST_ONLY)))
    searched = [
        ("+ member weights", procedure_global_weights(models)),
        ("+ member weights and threshold", procedure_global_weights(models, True)),
        ("+ per-region weights", procedure_region_weights(models)),
        ("+ per-region weights and thresholds", procedure_region_weights(models, True)),
        ("equal weights + post-processing", with_postprocessing(procedure_fixed(models))),
        ("member weights + post-processing", with_postprocessing(procedure_global_weights(models))),
        ("per-region weights + thresholds + post-processing", with_postprocessing(procedure_region_weights(models, True))),
    ]
    if arguments.defaults_only:
        rows, searched = alone_defaults + [ensemble_no_check, ensemble_defaults], []
    else:
        rows = alone_defaults + alone_largest + [ensemble_no_check, ensemble_defaults, ensemble_largest] + searched
    print("| procedure (nested CV: chosen on 3 folds, scored on the 4th) | Dice WT | Dice TC | Dice ET | mean |")
    print("|---|---|---|---|---|")
    results = {}
    for label, choose in rows:
        scores, _ = nested(cases, choose)
        cells, overall = summary(scores)
        results[label] = {"scores": scores, "overall": overall}
        print(f"| {label} | {' | '.join(cells)} | {overall:.3f} |", flush=True)
    print("\nSetting each procedure picks on all cases:")
    picks = {}
    for label, choose in searched:
        weights, setting = choose(cases)
        picks[label] = {"weights": weights, "setting": setting}
        print(f"- {label}: {describe(weights, setting)}")
    if arguments.json:
        with open(arguments.json, "w") as f:
            json.dump({"cases": [c.name for c in cases], "members": members, "results": results, "picks": picks}, f, indent=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["predict", "analyse"])
    parser.add_argument("members", nargs="+", help="MODEL=RECIPE (a recipe folder under RUNS)")
    parser.add_argument("--json", help="analyse: also write the results here")
    parser.add_argument("--tta", action="store_true", help="mirror test-time augmentation (folder prob-tta)")
    parser.add_argument("--folds", type=lambda text: [int(k) for k in text.split(",")],
                        help="analyse: only these folds (e.g. 1,2), for comparisons on the same cases")
    parser.add_argument("--defaults-only", action="store_true",
                        help="analyse: only each member alone and the equal-weight ensemble, with the defaults (no search)")
    arguments = parser.parse_args()
    members = parse_members(arguments.members)
    global PROBABILITIES
    PROBABILITIES = "prob-tta" if arguments.tta else "prob"
    if arguments.command == "predict":
        predict(members, arguments.tta)
    else:
        analyse(members, arguments)


if __name__ == "__main__":
    main()
