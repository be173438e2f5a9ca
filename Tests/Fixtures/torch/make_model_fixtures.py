#!/usr/bin/env python3
"""Parity fixtures for the four networks (group "models"): the reference PyTorch networks of
reference_networks.py with deterministic weights and input that the Swift tests regenerate
bit for bit (TestSupport.DeterministicTensor), so only a strided sample of the output and its
sum are stored. Small configurations so the Swift parity tests run in a debug build.
"""
import math

import torch

from fixture_io import save_case
from reference_networks import Cascade, ResUNet, Student, UNet


def hashed_uniform(count, stream):
    """count values in [-0.5, 0.5): ((k · 2654435761 + stream · 1013904223) mod 2³²) / 2³² − ½,
    computed exactly (integers, then one float64 division), so the Swift side
    (TestSupport.DeterministicTensor) reproduces them bit for bit."""
    k = torch.arange(count, dtype=torch.int64)
    raw = (k * 2654435761 + stream * 1013904223) % (2 ** 32)
    return raw.to(torch.float64) / 2.0 ** 32 - 0.5


def deterministic(shape, stream, kind, fan_in=1):
    """Weights and inputs both sides can regenerate: see DeterministicTensor.swift."""
    u = hashed_uniform(int(torch.tensor(shape).prod()) if len(shape) else 1, stream)
    if kind == "scale":            # norm γ around 1
        v = 1 + 0.4 * u
    elif kind == "shift":          # biases, norm β
        v = 0.2 * u
    elif kind == "weight":         # variance 2 / fan-in
        v = u * math.sqrt(24.0 / fan_in)
    else:                          # "input": unit variance
        v = u * math.sqrt(12.0)
    return v.to(torch.float32).reshape(shape)


def randomise(model):
    """Deterministic weights, stream = 1 + index of the name in sorted order."""
    state = model.state_dict()
    names = sorted(state)
    with torch.no_grad():
        for index, name in enumerate(names):
            p = state[name]
            stream = index + 1
            if p.dim() == 1:
                kind = "scale" if name.endswith(".weight") else "shift"
                p.copy_(deterministic(p.shape, stream, kind))
            else:
                fan_in = p[0].numel()
                p.copy_(deterministic(p.shape, stream, "weight", fan_in))


def export(name, model, input_shape, **settings):
    randomise(model)
    model.eval()
    x = deterministic(input_shape, 999_983, "input")
    with torch.no_grad():
        y = model(x).contiguous()
    flat = y.reshape(-1)
    step = max(1, flat.numel() // 4096)
    save_case("models", name, {"output_sample": flat[::step], "output_sum": flat.double().sum().reshape(1)},
              parameters=sum(p.numel() for p in model.parameters()), input_shape=list(input_shape),
              output_shape=list(y.shape), sample_step=step, **settings)


export("student", Student(), (1, 4, 16, 16, 16))
export("unet_base4", UNet(4), (1, 4, 32, 32, 32), base=4)
export("resunet_f8", ResUNet(8), (1, 4, 16, 16, 16), width=8)
export("cascade", Cascade(), (1, 4, 64, 64, 64))
