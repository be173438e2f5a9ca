#!/usr/bin/env python3
"""Generates the NIfTI reader/writer fixtures under Tests/Fixtures/nifti/ with nibabel.

Independent reference for brainseg's libnifti-based reader: every file is written by nibabel,
and expected.json records what nibabel says about it (shape, datatype, zooms, qform/sform
codes and matrices, axis codes, scaling, extension count, and every voxel value after
scaling, x fastest). The Swift tests read each file and compare field by field.

Pinned: nibabel==5.4.2, numpy==2.4.6 (see Tests/Fixtures/requirements.txt). Deterministic:
re-running reproduces byte-identical .nii files and identical expected.json.

Usage:  python3 Tests/Fixtures/make_nifti_fixtures.py
"""
import gzip
import json
import os
import struct

import nibabel as nib
import numpy as np

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nifti")
SHAPE = (5, 4, 3)


def oblique_affine(zooms=(1.5, 1.25, 3.0)):
    """A rotated, shifted, LPS-like affine so geometry copying is really exercised."""
    angle = np.deg2rad(10.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0],
                         [np.sin(angle), np.cos(angle), 0.0],
                         [0.0, 0.0, 1.0]])
    flip = np.diag([-1.0, -1.0, 1.0])
    affine = np.eye(4)
    affine[:3, :3] = flip @ rotation @ np.diag(zooms)
    affine[:3, 3] = [90.5, 126.25, -72.0]
    # Round through float32 so that header storage is exact and comparisons can be strict.
    return affine.astype(np.float32).astype(np.float64)


def ramp(dtype, shape=SHAPE):
    """Values covering the type's sign and a good part of its range, deterministic."""
    n = int(np.prod(shape))
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    base = np.arange(n, dtype=np.float64)
    if info is None:
        values = (base - n / 2) * 3.25
    else:
        low, high = max(info.min, -30000), min(info.max, 60000)
        values = np.round(low + (high - low) * base / (n - 1))
    return values.reshape(shape, order="F").astype(dtype)


def finite_or_none(value):
    value = float(value)
    return value if np.isfinite(value) else None


def raw_scaling(path):
    """scl_slope and scl_inter exactly as stored (nibabel's loaded header no longer has them)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        head = handle.read(540)
    for order in "<>":
        size = struct.unpack(order + "i", head[:4])[0]
        if size == 348:
            return struct.unpack(order + "ff", head[112:120])
        if size == 540:
            return struct.unpack(order + "dd", head[176:192])
    raise ValueError(path)


def describe(name, img):
    """What nibabel says about a written file: read it back from disk."""
    path = os.path.join(HERE, name)
    loaded = nib.load(path)
    header = loaded.header
    data = np.asarray(loaded.dataobj, dtype=np.float64)  # scaled as nibabel applies it
    qform, qcode = loaded.get_qform(coded=True)
    sform, scode = loaded.get_sform(coded=True)
    best = loaded.affine
    extensions = len(header.extensions) if hasattr(header, "extensions") else 0
    raw_slope, raw_inter = raw_scaling(path)
    applied = bool(np.isfinite(raw_slope) and raw_slope != 0 and not (raw_slope == 1 and raw_inter == 0))
    return {
        "file": name,
        "niftiVersion": 2 if isinstance(loaded, nib.Nifti2Image) else 1,
        "dims": [int(d) for d in loaded.shape],
        "datatype": str(header.get_data_dtype().newbyteorder("=").name),
        "bigEndian": header.endianness == ">",
        "spacing": [float(z) for z in header.get_zooms()[:3]],
        "qformCode": int(qcode) if qcode is not None else 0,
        "sformCode": int(scode) if scode is not None else 0,
        "qformMatrix": np.asarray(header.get_qform(), dtype=np.float64).ravel().tolist(),
        "sformMatrix": np.asarray(header.get_sform(), dtype=np.float64).ravel().tolist(),
        "bestAffine": np.asarray(best, dtype=np.float64).ravel().tolist(),
        "orientation": "".join(nib.aff2axcodes(best)),
        # NaN (nibabel's "no scaling") is stored as null: JSON has no NaN.
        "rawSlope": finite_or_none(raw_slope),
        "rawIntercept": finite_or_none(raw_inter),
        "scalingApplied": applied,
        "extensions": extensions,
        "values": data.ravel(order="F").tolist(),
    }


def save(img, name):
    path = os.path.join(HERE, name)
    if name.endswith(".gz"):
        # Fixed gzip mtime so that the fixture bytes are reproducible.
        raw_name = path[:-3]
        nib.save(img, raw_name)
        with open(raw_name, "rb") as source, open(path, "wb") as target:
            with gzip.GzipFile(filename="", mode="wb", fileobj=target, mtime=0) as gz:
                gz.write(source.read())
        os.remove(raw_name)
    else:
        nib.save(img, path)


def main():
    os.makedirs(HERE, exist_ok=True)
    for old in os.listdir(HERE):
        os.remove(os.path.join(HERE, old))
    expected = []
    affine = oblique_affine()

    # One file per datatype, little-endian, qform and sform both set (sform code 1, qform 2).
    for dtype in ["uint8", "int8", "int16", "uint16", "int32", "float32", "float64"]:
        img = nib.Nifti1Image(ramp(np.dtype(dtype)), affine)
        img.set_qform(affine, code=2)
        img.set_sform(affine, code=1)
        img.header.set_slope_inter(1.0, 0.0)
        name = f"dtype_{dtype}.nii.gz"
        save(img, name)
        expected.append(describe(name, img))

    # Scaling: int16 stored, value * 0.5 + 10.
    img = nib.Nifti1Image(ramp(np.dtype("int16")), affine)
    img.header.set_slope_inter(0.5, 10.0)
    save(img, "scaled_int16.nii")
    expected.append(describe("scaled_int16.nii", img))

    # scl_slope = 0 means "no scaling" (as in the BraTS files): patch the raw header field.
    img = nib.Nifti1Image(ramp(np.dtype("int16")), affine)
    img.header.set_slope_inter(1.0, 0.0)
    save(img, "slope_zero_int16.nii")
    path = os.path.join(HERE, "slope_zero_int16.nii")
    with open(path, "r+b") as handle:
        handle.seek(112)
        handle.write(struct.pack("<ff", 0.0, 0.0))
    entry = describe("slope_zero_int16.nii", img)
    entry["values"] = ramp(np.dtype("int16")).astype(np.float64).ravel(order="F").tolist()
    assert not entry["scalingApplied"] and entry["rawSlope"] == 0.0
    expected.append(entry)

    # Big-endian int16 and float32.
    for dtype in ["int16", "float32"]:
        header = nib.Nifti1Header(endianness=">")
        img = nib.Nifti1Image(ramp(np.dtype(dtype)), affine, header)
        img.set_qform(affine, code=1)
        img.set_sform(affine, code=1)
        img.header.set_slope_inter(1.0, 0.0)
        name = f"bigendian_{dtype}.nii"
        save(img, name)
        expected.append(describe(name, img))

    # Header extensions push the data offset past 352.
    img = nib.Nifti1Image(ramp(np.dtype("float32")), affine)
    img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"brainseg fixture: first extension"))
    img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"second extension, longer " * 20))
    img.header.set_slope_inter(1.0, 0.0)
    save(img, "extensions_float32.nii.gz")
    expected.append(describe("extensions_float32.nii.gz", img))

    # NIfTI-2.
    img = nib.Nifti2Image(ramp(np.dtype("int16")), affine)
    img.header.set_slope_inter(1.0, 0.0)
    save(img, "nifti2_int16.nii.gz")
    expected.append(describe("nifti2_int16.nii.gz", img))

    # RAS, qform only (sform code 0).
    ras = np.diag([2.0, 2.0, 2.5, 1.0])
    ras[:3, 3] = [-10, -20, -30]
    img = nib.Nifti1Image(ramp(np.dtype("uint8")), ras)
    img.set_qform(ras, code=1)
    img.set_sform(None, code=0)
    img.header.set_slope_inter(1.0, 0.0)
    save(img, "ras_qform_only_uint8.nii.gz")
    expected.append(describe("ras_qform_only_uint8.nii.gz", img))

    # A BraTS-style label map (int16 labels 0/1/2/4).
    labels = np.zeros(SHAPE, dtype=np.int16)
    labels[1:4, 1:3, 1] = 2
    labels[2, 1:3, 1] = 1
    labels[2, 2, 1] = 4
    img = nib.Nifti1Image(labels, affine)
    img.header.set_slope_inter(1.0, 0.0)
    save(img, "labels_int16.nii.gz")
    expected.append(describe("labels_int16.nii.gz", img))

    # Inputs that must be refused (the tests make the rest from these at run time).
    special = {}
    values = ramp(np.dtype("float32"))
    values[0, 0, 0] = np.nan
    values[1, 0, 0] = np.inf
    img = nib.Nifti1Image(values, affine)
    img.header.set_slope_inter(1.0, 0.0)
    save(img, "nonfinite_float32.nii")
    special["nonfinite"] = "nonfinite_float32.nii"

    img = nib.Nifti1Image(np.arange(3 * 3 * 3 * 2, dtype=np.int16).reshape((3, 3, 3, 2)), affine)
    img.header.set_slope_inter(1.0, 0.0)
    save(img, "fourd_int16.nii.gz")
    special["fourDimensional"] = "fourd_int16.nii.gz"

    # A valid gzip stream holding a header that declares more data than follows.
    full = open(os.path.join(HERE, "scaled_int16.nii"), "rb").read()
    with open(os.path.join(HERE, "short_data_int16.nii.gz"), "wb") as target:
        with gzip.GzipFile(filename="", mode="wb", fileobj=target, mtime=0) as gz:
            gz.write(full[: len(full) - 40])
    special["shortData"] = "short_data_int16.nii.gz"

    with open(os.path.join(HERE, "expected.json"), "w") as handle:
        json.dump({"generator": f"nibabel {nib.__version__}, numpy {np.__version__}",
                   "images": expected, "invalid": special}, handle, indent=1, sort_keys=True)
        handle.write("\n")
    print(f"wrote {len(expected)} images and {len(special)} invalid inputs to {HERE}")


if __name__ == "__main__":
    main()
