#!/usr/bin/env python3
"""ONNX Runtime counterpart of `brainseg bench conv` (forward only): exports the same Conv3d with
torch.onnx.export to a temporary file IN A CHILD PROCESS (so torch's memory does not count in this
process's peak RSS), then times InferenceSession.run with intra_op_num_threads = --threads.
Prints ONE JSON object with the same keys as the other two.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--in-channels", type=int, required=True)
    parser.add_argument("--out-channels", type=int, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--kernel", type=int, default=3)
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--padding", type=int, default=None)
    parser.add_argument("--groups", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--mode", choices=["forward"], default="forward")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--export-to", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def export(args, padding, path):
    import warnings
    warnings.simplefilter("ignore")  # the legacy-exporter deprecation notice
    import torch
    torch.manual_seed(1)
    layer = torch.nn.Conv3d(args.in_channels, args.out_channels, args.kernel, stride=args.stride,
                            padding=padding, groups=args.groups, bias=True).eval()
    example = torch.zeros(args.batch, args.in_channels, args.size, args.size, args.size)
    torch.onnx.export(layer, (example,), path, input_names=["input"], output_names=["output"], dynamo=False)


def main():
    args = parse()
    padding = args.kernel // 2 if args.padding is None else args.padding
    if args.export_to:
        export(args, padding, args.export_to)
        return
    import numpy as np
    import onnxruntime as ort
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "conv.onnx")
        subprocess.run([sys.executable, __file__, *sys.argv[1:], "--export-to", path], check=True,
                       stdout=subprocess.DEVNULL)
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (args.batch, args.in_channels, args.size, args.size, args.size)).astype(np.float32)
    for _ in range(args.warmup):
        session.run(None, {"input": x})
    seconds = []
    for _ in range(args.reps):
        start = time.perf_counter()
        session.run(None, {"input": x})
        seconds.append(time.perf_counter() - start)
    out = (args.size + 2 * padding - args.kernel) // args.stride + 1
    macs = args.batch * args.out_channels * out ** 3 * (args.in_channels // args.groups) * args.kernel ** 3
    gflop = 2 * macs / 1e9
    median = statistics.median(seconds)
    print(json.dumps({
        "implementation": "onnxruntime", "benchmark": "conv", "mode": "forward", "batch": args.batch,
        "in_channels": args.in_channels, "out_channels": args.out_channels, "size": args.size,
        "kernel": args.kernel, "stride": args.stride, "padding": padding, "groups": args.groups,
        "threads": args.threads, "reps": args.reps, "warmup": args.warmup,
        "median_s": median, "min_s": min(seconds), "max_s": max(seconds),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6,
        "gflop": gflop, "gflops": gflop / median,
        "openblas_core": "n/a (onnxruntime %s)" % ort.__version__,
    }, sort_keys=True))


if __name__ == "__main__":
    main()
