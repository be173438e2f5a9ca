#!/usr/bin/env python3
"""Resampling reference: torch.nn.functional.interpolate(mode="trilinear", align_corners=False)
to explicit output sizes (down, up and mixed), group "imaging"."""
import torch.nn.functional as F

from fixture_io import randn, save_case

cases = {
    "down_7x9x11_to_4x5x6": ((1, 2, 7, 9, 11), (4, 5, 6)),
    "up_3x4x5_to_7x8x9": ((2, 1, 3, 4, 5), (7, 8, 9)),
    "mixed_6x5x4_to_3x9x4": ((1, 3, 6, 5, 4), (3, 9, 4)),
}
for seed, (name, (shape, size)) in enumerate(cases.items()):
    x = randn(shape, seed)
    y = F.interpolate(x, size=size, mode="trilinear", align_corners=False)
    save_case("imaging", name, {"input": x, "output": y}, size=list(size))
