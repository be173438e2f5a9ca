#!/usr/bin/env python3
"""conv group: PyTorch references for Convolution3D and TransposedConvolution3D.

Each case stores input, weight, (bias), output = layer(input), a random projection R, and the
gradients of sum(output * R) with respect to input, weight and bias. Shapes are tiny and odd so
that borders, strides and groups all matter; total size stays well under 1 MB.
Run from this folder: /work/venv/bin/python make_conv_fixtures.py
"""
import torch
import torch.nn.functional as F

from fixture_io import randn, save_case

GROUP = "conv"

# name, batch, in, out, size (D, H, W), kernel, stride, padding, groups, bias
CONV_CASES = [
    ("k3_s1_p1_g1_bias", 2, 3, 4, (5, 6, 7), 3, 1, 1, 1, True),
    ("k3_s1_p1_g2_nobias", 2, 4, 6, (4, 5, 3), 3, 1, 1, 2, False),
    ("k3_s2_p1_g4_bias", 1, 4, 8, (7, 5, 6), 3, 2, 1, 4, True),
    ("k3_s1_p0_g1_bias", 1, 2, 3, (5, 4, 6), 3, 1, 0, 1, True),
    ("k2_s2_p0_g1_nobias", 1, 3, 5, (6, 4, 5), 2, 2, 0, 1, False),
    ("k1_s1_p0_g1_bias", 2, 6, 3, (3, 4, 5), 1, 1, 0, 1, True),
    ("k1_s2_p0_g2_bias", 1, 4, 4, (5, 5, 3), 1, 2, 0, 2, True),
]

# name, batch, in, out, size, bias
TRANSPOSED_CASES = [
    ("transposed_bias", 1, 4, 3, (3, 4, 5), True),
    ("transposed_nobias", 2, 2, 5, (3, 3, 2), False),
]


def run_case(name, seed, inputs, layer, **settings):
    leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    output = layer(**leaves)
    projection = randn(output.shape, seed + 9)
    (output * projection).sum().backward()
    tensors = dict(inputs)
    tensors["output"] = output
    tensors["projection"] = projection
    for key, leaf in leaves.items():
        tensors[f"grad_{key}"] = leaf.grad
    save_case(GROUP, name, tensors, **settings)


for index, (name, batch, cin, cout, size, kernel, stride, padding, groups, bias) in enumerate(CONV_CASES):
    seed = 100 + 10 * index
    inputs = {
        "input": randn((batch, cin) + size, seed),
        "weight": randn((cout, cin // groups, kernel, kernel, kernel), seed + 1, scale=0.3),
    }
    if bias:
        inputs["bias"] = randn((cout,), seed + 2)
    run_case(name, seed, inputs,
             lambda input, weight, bias=None: F.conv3d(input, weight, bias, stride=stride, padding=padding, groups=groups),
             kind="conv", stride=stride, padding=padding, groups=groups)

for index, (name, batch, cin, cout, size, bias) in enumerate(TRANSPOSED_CASES):
    seed = 500 + 10 * index
    inputs = {
        "input": randn((batch, cin) + size, seed),
        "weight": randn((cin, cout, 2, 2, 2), seed + 1, scale=0.3),
    }
    if bias:
        inputs["bias"] = randn((cout,), seed + 2)
    run_case(name, seed, inputs,
             lambda input, weight, bias=None: F.conv_transpose3d(input, weight, bias, stride=2),
             kind="transposed", stride=2, padding=0, groups=1)
