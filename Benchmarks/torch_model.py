#!/usr/bin/env python3
"""PyTorch (and ONNX Runtime) counterparts of `brainseg bench model`: the same four networks
(Tests/Fixtures/torch/reference_networks.py, written independently from MODELS.md) timed on
the same input size, printing one JSON object with the keys brainseg prints.

  python3 torch_model.py --model unet --shape 96,96,96 --mode forward --reps 3 --threads 2
  python3 onnx_model.py  --model unet --shape 96,96,96 --mode forward  (ONNX Runtime)
"""
import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "torch"))
from reference_networks import Cascade, ResUNet, Student, UNet  # noqa: E402


def build(name, width):
    if name == "unet":
        return UNet(width or 16), 3
    if name == "resunet-vae":
        return ResUNet(width or 16), 3
    if name == "cascade":
        return Cascade(), 4
    if name == "student":
        return Student(), 3
    raise SystemExit(f"unknown model {name}")


def flops(model, x):
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.ConvTranspose3d):      # each input value meets Cout × 8 weights
            total += 2 * inputs[0].numel() * module.weight.shape[1] * 8
        elif isinstance(module, torch.nn.Conv3d):             # each output value sums Cin/groups × k³ products
            total += 2 * output.numel() * module.weight[0].numel()
    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--shape", default="96,96,96")
    parser.add_argument("--mode", choices=["forward", "train"], default="forward")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--width", type=int, default=0)
    parser.add_argument("--runtime", choices=["torch", "onnx"], default="torch")
    parser.add_argument("--size", type=int, default=0, help="cubic size (overrides --shape)")
    parser.add_argument("--profile", default="cpu", help="accepted for symmetry with brainseg; widths via --width")
    parser.add_argument("--json", action="store_true", help="accepted for symmetry; output is always JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shape = [args.size] * 3 if args.size else [int(s) for s in args.shape.split(",")]
    model, channels = build(args.model, args.width)
    x = torch.randn(1, 4, *shape)
    gflop = flops(model, x) / 1e9
    times = []
    if args.runtime == "onnx":
        import onnxruntime as ort
        model.eval()
        path = os.path.join(tempfile.mkdtemp(), "model.onnx")
        torch.onnx.export(model, (x,), path, opset_version=17, dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x.numpy()}
        for i in range(args.warmup + args.reps):
            start = time.perf_counter()
            session.run(None, feed)
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
    elif args.mode == "forward":
        model.eval()
        with torch.no_grad():
            for i in range(args.warmup + args.reps):
                start = time.perf_counter()
                model(x)
                if i >= args.warmup:
                    times.append(time.perf_counter() - start)
    else:
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        target = (torch.rand(1, channels, *shape) > 0.5).float()
        for i in range(args.warmup + args.reps):
            start = time.perf_counter()
            optimizer.zero_grad()
            y = model(x)
            p = torch.sigmoid(y) if channels == 3 else y
            dice = 1 - (2 * (p * target).sum() + 1) / ((p * p).sum() + target.sum() + 1)
            loss = dice + (F.binary_cross_entropy_with_logits(y, target) if channels == 3 else 0)
            loss.backward()
            optimizer.step()
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
        gflop *= 3
    print(json.dumps({
        "implementation": "onnxruntime" if args.runtime == "onnx" else "pytorch",
        "version": __import__("onnxruntime").__version__ if args.runtime == "onnx" else torch.__version__,
        "model": args.model, "shape": shape, "mode": args.mode,
        "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6,
        "gflop": gflop, "threads": args.threads,
    }))


if __name__ == "__main__":
    main()
