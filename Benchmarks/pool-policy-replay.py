#!/usr/bin/env python3
"""Replays the engine's buffer-pool traffic under other pool policies (issue #12, peak RSS).

Record a trace, then replay it:

    BRAINSEG_POOL_TRACE=1 brainseg bench model --model unet --shape 80,96,80 --reps 2 2> unet.trace
    Benchmarks/pool-policy-replay.py unet.trace [more traces…]

For each trace and policy it prints the peak of resident tensor memory (live buffers plus
buffers idle in the pool, counting only the floats ever touched in each, as the kernel does) and
the memory faulted in over the whole run (first touches: about 0.6 ms per MB on the 2-vCPU
machines here, the cost the pool exists to avoid). The process's own baseline (code, libraries,
weights: about 50 MB) comes on top of the peak. Policies:
- pow2: the engine's (capacities rounded up to a power of two, reuse within a class, 1 GB idle);
- no pool: every buffer returned to the system when freed (the lower bound for the peak);
- fit F: reuse the smallest idle buffer of at most F times the rounded size;
- quarter: capacities rounded to quarter powers of two (less rounding, fewer shared classes).
Standard library only.
"""
import sys


def pow2(n):
    return max(n, 1) if n <= 16384 else 1 << (n - 1).bit_length()


def quarter(n):
    if n <= 16384:
        return max(n, 1)
    step = 1 << ((n - 1).bit_length() - 3)
    return (n + step - 1) // step * step


def load(path):
    events = []
    for line in open(path):
        parts = line.split()
        if len(parts) == 3 and parts[0] in ("T", "R") and parts[1].isdigit() and parts[2].isdigit():
            events.append((parts[0], int(parts[1]), int(parts[2])))
    return events


def replay(events, rounding=pow2, fit=1.0, idle_limit=1 << 30):
    """(peak MB, faulted MB) of `events` under one policy."""
    idle = {}      # buffer id -> (capacity, floats touched)
    live = {}      # address -> (buffer id, capacity, floats touched)
    next_id = 0
    idle_bytes = 0
    resident = peak = faulted = 0
    for kind, address, n in events:
        if kind == "T":
            capacity = rounding(n)
            best = None
            for buffer, (c, t) in idle.items():
                if c < n or c > capacity * fit or (fit == 1.0 and c != capacity):
                    continue
                if best is None or c < idle[best][0]:
                    best = buffer
            if best is None:
                next_id += 1
                live[address] = (next_id, capacity, n)
                faulted += n
                resident += n
            else:
                c, t = idle.pop(best)
                idle_bytes -= c * 4
                if n > t:
                    faulted += n - t
                    resident += n - t
                    t = n
                live[address] = (best, c, t)
            peak = max(peak, resident)
        elif address in live:
            buffer, c, t = live.pop(address)
            if c >= 4096 and idle_bytes + c * 4 <= idle_limit:
                idle[buffer] = (c, t)
                idle_bytes += c * 4
            else:
                resident -= t
    return peak * 4 / 1e6, faulted * 4 / 1e6


POLICIES = [("pow2 (the engine's)", {}), ("no pool", {"idle_limit": 0}), ("fit 2", {"fit": 2.0}),
            ("fit 4", {"fit": 4.0}), ("quarter", {"rounding": quarter}), ("quarter, fit 2", {"rounding": quarter, "fit": 2.0})]

print("| trace | " + " | ".join(name for name, _ in POLICIES) + " |")
print("|---|" + "---|" * len(POLICIES))
for path in sys.argv[1:]:
    events = load(path)
    cells = ["%.0f / %.0f" % replay(events, **options) for _, options in POLICIES]
    print("| %s | %s |" % (path.rsplit("/", 1)[-1].replace(".trace", ""), " | ".join(cells)))
print("\npeak MB / faulted MB per cell (tensor memory only; the process baseline comes on top)")
