"""Shared helpers for the PyTorch reference-fixture scripts in this folder.

Every script builds small random inputs and parameters with a fixed seed, runs the PyTorch
reference (forward and backward), and stores all tensors in one safetensors file per case
under Tests/Fixtures/torch/<group>/<case>.safetensors, with the case's settings in the
file's __metadata__ (JSON-encoded values). Swift tests load them through
TestSupport.TorchFixture. Pinned: torch==2.15.0 (CPU arithmetic, float32), safetensors==0.8.0.
"""
import json
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(1)            # deterministic reductions
torch.use_deterministic_algorithms(True)


def save_case(group, name, tensors, **settings):
    """Writes tensors (contiguous float32) and settings to <group>/<name>.safetensors."""
    folder = os.path.join(HERE, group)
    os.makedirs(folder, exist_ok=True)
    clean = {k: v.detach().contiguous().to(torch.float32) for k, v in tensors.items()}
    metadata = {k: json.dumps(v) for k, v in settings.items()}
    write_safetensors(clean, os.path.join(folder, f"{name}.safetensors"), metadata)


def write_safetensors(tensors, path, metadata):
    """The safetensors format with every key sorted, so that regenerating a fixture gives
    byte-identical files (the reference writer orders __metadata__ at random)."""
    header, blobs, offset = {}, [], 0
    for key in sorted(tensors):
        data = tensors[key].numpy().astype("<f4").tobytes()
        header[key] = {"dtype": "F32", "shape": list(tensors[key].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    encoded = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    encoded += b" " * (-(8 + len(encoded)) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)))
        handle.write(encoded)
        for data in blobs:
            handle.write(data)


def generator(seed):
    g = torch.Generator().manual_seed(seed)
    return g


def randn(shape, seed, scale=1.0):
    return torch.randn(shape, generator=generator(seed), dtype=torch.float32) * scale
