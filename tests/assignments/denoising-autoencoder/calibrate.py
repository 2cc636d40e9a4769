"""Calibrates 3a/3b (the grader's own short training run, probes.train_denoiser) on the
reference, the contract-valid variants (tests/assignments/denoising-autoencoder/variants and
[alternatives]) and the mutants, for several budgets and seeds; prints, per budget, each
submission's loss drop (1 - last/first over the judge's 20% windows), its final loss and
the run's time. The toml's [probes.training] comment quotes the chosen budget's table.

    GRADER_CACHE=/tmp/x .venv/bin/python tests/assignments/denoising-autoencoder/calibrate.py \
        [--budgets 40x16 24x8 ...] [--seeds 0 1 2] [--only NAME ...]
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from calibration import candidates, run, window

SLUG = "denoising-autoencoder"
BASE = {"z_dim": 64, "lr": 0.002, "noise_std": 0.2}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budgets", nargs="*", default=["40x16"], help="STEPSxBATCH[xLR]")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--only", nargs="*", default=[])
    args = ap.parse_args()
    subs = candidates(SLUG)
    if args.only:
        subs = {k: v for k, v in subs.items() if k in args.only or k == "reference"}
    for budget in args.budgets:
        parts = budget.split("x")
        steps, bs = int(parts[0]), int(parts[1])
        kw = {**BASE, "steps": steps, "batch_size": bs}
        if len(parts) > 2:
            kw["lr"] = float(parts[2])
        print(f"\n== steps {steps}, batch {bs}, lr {kw['lr']}: drop (1 - last/first) / final loss / CPU seconds (1 thread), "
              f"seeds {args.seeds}")
        drops: dict[str, list[float]] = {}
        for name, (kind, ns) in subs.items():
            row = []
            for seed in args.seeds:
                try:
                    value, secs = run(SLUG, ns, "train_denoiser", kw, seed)
                except Exception as e:  # noqa: BLE001
                    row.append(f"error {type(e).__name__}: {str(e)[:80]}")
                    continue
                first, last = window(value["losses"])
                drop = 1 - last / first
                drops.setdefault(kind, []).append(drop)
                row.append(f"{drop:5.2f} {last:.3f} {secs:4.1f}s")
            print(f"  {kind:9} {name:34} " + " | ".join(row), flush=True)
        for kind, ds in drops.items():
            print(f"  {kind}: drop min {min(ds):.2f}, median {statistics.median(ds):.2f}, max {max(ds):.2f}")


if __name__ == "__main__":
    main()
