#!/usr/bin/env python3
"""ONNX Runtime counterpart of `brainseg bench model --mode forward` (see torch_model.py)."""
import os
import sys

sys.argv.append("--runtime=onnx")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_model  # noqa: E402

torch_model.main()
