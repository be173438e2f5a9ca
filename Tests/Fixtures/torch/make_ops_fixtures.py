#!/usr/bin/env python3
"""Reference cases for the non-convolution ops (group "ops"), checked by Tests/CoreTests/*Tests.swift.

Every case stores its inputs and parameters, a random projection P of the output (one per output
for multi-output ops), the output, and the gradients of L = sum(output * P) with respect to every
input and parameter ("grad_<name>"). Settings (op name, groups, activation, factor, ...) go to the
metadata. Shapes are tiny, odd-sized, mostly N = 2, so the whole group stays well under 1 MB.
Run from this folder: /work/venv/bin/python make_ops_fixtures.py
"""
import torch
import torch.nn.functional as F

from fixture_io import randn, save_case

GROUP = "ops"


def leaf(t):
    return t.clone().requires_grad_(True)


def finish(name, leaves, outputs, seed, constants=None, **settings):
    """Projects outputs on random tensors, back-propagates, saves inputs (differentiable `leaves`
    and non-differentiable `constants`), outputs and gradients."""
    tensors = {k: v.detach() for k, v in leaves.items()}
    tensors.update(constants or {})
    loss = 0
    for index, (out_name, out) in enumerate(outputs.items()):
        projection = randn(out.shape, seed + 1000 + index)
        suffix = "" if len(outputs) == 1 else str(index)
        tensors["projection" + suffix] = projection
        tensors[out_name] = out.detach()
        loss = loss + (out * projection).sum()
    loss.backward()
    for k, v in leaves.items():
        tensors["grad_" + k] = v.grad if v.grad is not None else torch.zeros_like(v)
    save_case(GROUP, name, tensors, **settings)


def activation_of(name, slope):
    if name == "none":
        return lambda t: t
    if name == "relu":
        return F.relu
    return lambda t: F.leaky_relu(t, slope)


# Normalization followed by an activation (the fused op; "none" is plain group norm).
norm_cases = [
    ("norm_group3_none", (2, 6, 3, 5, 4), 3, "none", 0.0, 0.0),
    ("norm_group2_relu", (2, 4, 5, 3, 7), 2, "relu", 0.0, 0.0),
    ("norm_group1_leaky", (2, 6, 3, 4, 5), 1, "leaky", 0.01, 0.0),
    ("norm_instance_leaky", (2, 3, 5, 3, 3), 3, "leaky", 0.01, 0.0),
    ("norm_instance_none", (2, 4, 3, 3, 5), 4, "none", 0.0, 0.0),
    ("norm_group2_relu_offset", (2, 4, 3, 5, 3), 2, "relu", 0.0, 40.0),  # large mean, small spread
]
for seed, (name, shape, groups, activation, slope, offset) in enumerate(norm_cases, start=1):
    channels = shape[1]
    x = leaf(randn(shape, seed * 10) + offset)
    weight = leaf(1 + randn((channels,), seed * 10 + 1, 0.3))
    bias = leaf(randn((channels,), seed * 10 + 2, 0.3))
    out = activation_of(activation, slope)(F.group_norm(x, groups, weight, bias, eps=1e-5))
    finish(name, {"x": x, "weight": weight, "bias": bias}, {"output": out}, seed * 10,
           op="norm", groups=groups, activation=activation, slope=slope, epsilon=1e-5)

# Element-wise activations and the channel softmax.
activation_cases = [
    ("activation_relu", "relu", (2, 3, 3, 4, 5), 0.0, 1.0),
    ("activation_leaky_default", "leaky", (2, 2, 3, 5, 3), 0.01, 1.0),
    ("activation_leaky_02", "leaky", (2, 3, 3, 3, 3), 0.2, 1.0),
    ("activation_sigmoid", "sigmoid", (2, 3, 3, 4, 3), 0.0, 4.0),
    ("activation_softmax", "softmax", (2, 5, 3, 4, 3), 0.0, 3.0),
    ("activation_softmax_rank2", "softmax", (3, 7), 0.0, 3.0),
]
for seed, (name, op, shape, slope, scale) in enumerate(activation_cases, start=100):
    x = leaf(randn(shape, seed, scale))
    if op == "relu":
        out = F.relu(x)
    elif op == "leaky":
        out = F.leaky_relu(x, slope)
    elif op == "sigmoid":
        out = torch.sigmoid(x)
    else:
        out = torch.softmax(x, dim=1)
    finish(name, {"x": x}, {"output": out}, seed, op=op, slope=slope)

# Channel concatenation and splitting.
x0, x1, x2 = leaf(randn((2, 2, 3, 4, 5), 200)), leaf(randn((2, 3, 3, 4, 5), 201)), leaf(randn((2, 1, 3, 4, 5), 202))
finish("channels_concatenate", {"x0": x0, "x1": x1, "x2": x2}, {"output": torch.cat([x0, x1, x2], dim=1)}, 200, op="concatenate")

x = leaf(randn((2, 6, 3, 4, 3), 210))
parts = torch.split(x, [1, 3, 2], dim=1)
finish("channels_split", {"x": x}, {f"output{i}": p for i, p in enumerate(parts)}, 210, op="split", sizes=[1, 3, 2])

# Maximum over channel groups (the cascade's modality merge).
for seed, (name, shape, groups) in enumerate([("channels_max_groups4", (2, 12, 3, 4, 5), 4),
                                              ("channels_max_groups2", (2, 6, 5, 3, 3), 2)], start=220):
    x = leaf(randn(shape, seed))
    n, c = shape[0], shape[1]
    out = x.view(n, groups, c // groups, *shape[2:]).max(dim=1).values
    finish(name, {"x": x}, {"output": out}, seed, op="max_groups", groups=groups)

# Trilinear x2 upsampling (align_corners=False) and average pooling.
for seed, shape in enumerate([(2, 3, 3, 5, 4), (1, 2, 1, 2, 3), (2, 2, 4, 3, 5)], start=300):
    x = leaf(randn(shape, seed))
    out = F.interpolate(x, scale_factor=2, mode="trilinear", align_corners=False)
    finish(f"resample_upsample_{'x'.join(map(str, shape))}", {"x": x}, {"output": out}, seed, op="upsample")

for seed, (shape, factor) in enumerate([((2, 3, 4, 6, 2), 2), ((2, 2, 4, 8, 4), 4), ((1, 2, 6, 2, 4), 2)], start=320):
    x = leaf(randn(shape, seed))
    out = F.avg_pool3d(x, kernel_size=factor, stride=factor)
    finish(f"resample_pool{factor}_{'x'.join(map(str, shape))}", {"x": x}, {"output": out}, seed, op="pool", factor=factor)

# Linear (PyTorch layout) with and without bias.
x, weight, bias = leaf(randn((2, 7), 400)), leaf(randn((5, 7), 401, 0.5)), leaf(randn((5,), 402))
finish("linear_bias", {"x": x, "weight": weight, "bias": bias}, {"output": F.linear(x, weight, bias)}, 400, op="linear")
x, weight = leaf(randn((3, 4), 410)), leaf(randn((6, 4), 411, 0.5))
finish("linear_nobias", {"x": x, "weight": weight}, {"output": F.linear(x, weight)}, 410, op="linear")

# Reparameterization with explicit noise.
mean, log_variance, noise = leaf(randn((2, 8), 500)), leaf(randn((2, 8), 501, 0.7)), randn((2, 8), 502)
z = mean + torch.exp(0.5 * log_variance) * noise
finish("reparameterize", {"mean": mean, "logVariance": log_variance}, {"output": z}, 500,
       constants={"noise": noise}, op="reparameterize")
