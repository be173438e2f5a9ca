#!/usr/bin/env python3
"""safetensors format fixture: one tensor per dtype, written by the reference library."""
import os

import torch
from safetensors.torch import save_file

from fixture_io import HERE

values = torch.tensor([[0, 1, -2], [0.5, 3, -0.25]])
os.makedirs(os.path.join(HERE, "format"), exist_ok=True)
save_file({"f32": values.float(), "f64": values.double(), "f16": values.half(), "bf16": values.bfloat16()},
          os.path.join(HERE, "format", "dtypes.safetensors"), metadata={"writer": '"fixture_io"'})
