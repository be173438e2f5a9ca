"""Runs `brainseg serve` on a scratch root, drops case folders into it the way a sender does
(copy under a hidden name, then rename), and collects each case's report. Shared by
scripts/calibrate-pool.py and Benchmarks/bf16-equivalence.py. Standard library only.
"""
import json, os, shutil, signal, subprocess, time


def reports_from_daemon(brainseg, root, models_dir, cases, extra_config="", timeout=3600):
    """{case name: report} for the case folders `cases`, processed by a daemon rooted at `root`
    with the models of `models_dir`, `[pool] admit_labelled = false` (labelled cases are scored
    as if unlabelled) and `extra_config` appended to the `[models]` table. Cases without a report
    after `timeout` seconds are missing from the result; the daemon's log is `root`/daemon.log."""
    os.makedirs(root, exist_ok=True)
    config = os.path.join(root, "brainseg.toml")
    with open(config, "w") as f:
        f.write(f'root = "{root}"\n[models]\ndirectory = "{os.path.abspath(models_dir)}"\n{extra_config}'
                '[watch]\nquiescence_seconds = 1\n[pool]\nadmit_labelled = false\n')
    log = open(os.path.join(root, "daemon.log"), "w")
    daemon = subprocess.Popen([brainseg, "serve", "--config", config], stdout=log, stderr=log,
                              env=dict(os.environ, BRAINSEG_LOG_TARGET="stderr"))
    names = [os.path.basename(case.rstrip("/")) for case in cases]
    reports = {}
    try:
        time.sleep(3)
        for case, name in zip(cases, names):
            hidden = os.path.join(root, "incoming", "." + name + ".part")
            shutil.copytree(case, hidden)
            os.rename(hidden, os.path.join(root, "incoming", name))
        deadline = time.time() + timeout
        while len(reports) < len(names) and time.time() < deadline:
            for name in names:
                path = os.path.join(root, "output", name, f"{name}_report.json")
                if name not in reports and os.path.exists(path):
                    reports[name] = json.load(open(path))
            time.sleep(1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait()
    return reports
