#!/usr/bin/env python3
"""PyTorch counterpart of `brainseg bench conv`: the same Conv3d layer on random data, forward or
forward + backward (input and weight/bias gradients), printing ONE JSON object with the same keys
(median_s, min_s, max_s, peak_rss_mb, gflop, gflops, threads, openblas_core, mode, shape fields).
"""
import argparse
import json
import resource
import statistics
import time

import torch


def parse():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--in-channels", type=int, required=True)
    parser.add_argument("--out-channels", type=int, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--kernel", type=int, default=3)
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--padding", type=int, default=None)
    parser.add_argument("--groups", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--mode", choices=["forward", "train"], default="forward")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def output_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def main():
    args = parse()
    padding = args.kernel // 2 if args.padding is None else args.padding
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    layer = torch.nn.Conv3d(args.in_channels, args.out_channels, args.kernel, stride=args.stride,
                            padding=padding, groups=args.groups, bias=True)
    x = torch.rand(args.batch, args.in_channels, args.size, args.size, args.size) * 2 - 1
    out = output_size(args.size, args.kernel, args.stride, padding)
    grad = torch.rand(args.batch, args.out_channels, out, out, out) * 2 - 1

    def once():
        if args.mode == "forward":
            with torch.no_grad():
                layer(x)
            return
        layer.zero_grad(set_to_none=True)
        xx = x.detach().requires_grad_(True)
        layer(xx).backward(grad)

    for _ in range(args.warmup):
        once()
    seconds = []
    for _ in range(args.reps):
        start = time.perf_counter()
        once()
        seconds.append(time.perf_counter() - start)
    macs = args.batch * args.out_channels * out ** 3 * (args.in_channels // args.groups) * args.kernel ** 3
    gflop = 2 * macs / 1e9 * (3 if args.mode == "train" else 1)
    median = statistics.median(seconds)
    print(json.dumps({
        "implementation": "pytorch", "benchmark": "conv", "mode": args.mode, "batch": args.batch,
        "in_channels": args.in_channels, "out_channels": args.out_channels, "size": args.size,
        "kernel": args.kernel, "stride": args.stride, "padding": padding, "groups": args.groups,
        "threads": args.threads, "reps": args.reps, "warmup": args.warmup,
        "median_s": median, "min_s": min(seconds), "max_s": max(seconds),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6,
        "gflop": gflop, "gflops": gflop / median,
        "openblas_core": "n/a (torch %s, oneDNN %s)" % (torch.__version__, torch.backends.mkldnn.is_available()),
    }, sort_keys=True))


if __name__ == "__main__":
    main()
