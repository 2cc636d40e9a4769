"""Short reference runs for jem-cifar10: Part 1 (WRN-16-4 classifier) and Part 2 (JEM).

Executes only the cheap (untagged) cells of solution.py, then trains with small budgets.

    python reference/jem-cifar10/train.py                      # shipped fixture, both parts
    python reference/jem-cifar10/train.py --part 1 --epochs1 3
    python reference/jem-cifar10/train.py --data ~/cifar-10-batches-py --steps2 50

Defaults (fixture, seed 0) are the runs recorded in README.md.
"""
import argparse
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOLUTION = os.path.join(HERE, "solution.py")


def load_solution(path=SOLUTION, skip_tags=("train", "report")):
    """Namespace of solution.py with its `train`/`report`-tagged percent cells left out."""
    src = open(path).read()
    cells, cur, keep = [], [], True
    for line in src.splitlines(keepends=True):
        if line.startswith("# %%"):
            if keep:
                cells.append("".join(cur))
            cur = []
            tags = re.search(r'tags=\[([^\]]*)\]', line)
            names = re.findall(r'"([^"]+)"', tags.group(1)) if tags else []
            keep = not any(t in skip_tags for t in names)
        cur.append(line)
    if keep:
        cells.append("".join(cur))
    ns = {"__name__": "jem_solution", "__file__": path}
    exec(compile("".join(c if c else "" for c in cells), path, "exec"), ns)
    return ns


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="CIFAR-10 python batches (default: fixture)")
    ap.add_argument("--part", choices=["1", "2", "both"], default="both")
    ap.add_argument("--epochs1", type=int, default=3)
    ap.add_argument("--lr1", type=float, default=1e-3, help="Adam lr for the short part-1 run")
    ap.add_argument("--steps2", type=int, default=10, help="JEM steps (batches) in part 2")
    ap.add_argument("--lr2", type=float, default=1e-4, help="Adam lr for JEM (handout default)")
    ap.add_argument("--batch", type=int, default=32, help="part-1 batch size")
    ap.add_argument("--batch2", type=int, default=16, help="part-2 batch size")
    ap.add_argument("--max-train", type=int, default=None, help="use the first N training images")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.data:
        os.environ["CIFAR10_DIR"] = os.path.abspath(os.path.expanduser(a.data))

    S = load_solution()
    import keras
    tx, ty, vx, vy = S["load_cifar10"](os.environ.get("CIFAR10_DIR"))
    if a.max_train:
        tx, ty = tx[:a.max_train], ty[:a.max_train]
    print(f"data: {S['DATA_DIR'] if not a.data else a.data}: {len(tx)} train, {len(vx)} test")
    print("WRN-16-4 trainable parameters (ANSWERS['Q2']):", S["ANSWERS"]["Q2"])
    test = S["Batches"](vx, vy, 100)

    if a.part in ("1", "both"):
        keras.utils.set_random_seed(a.seed)
        train = S["Batches"](tx, ty, a.batch, shuffle=True, seed=a.seed)
        model = S["WRN"](10)
        optim = keras.optimizers.Adam(a.lr1)
        t0 = time.time()
        hist = S["train_loop"](model, optim, S["part1_train_step"], train, a.epochs1,
                               test_batches=test)
        print(f"part 1: {a.epochs1} epochs x {len(train)} steps (batch {a.batch}, lr {a.lr1}) "
              f"in {time.time() - t0:.0f}s; losses {[round(h, 4) for h in hist]}; "
              f"test accuracy {S['evaluate_accuracy'](model, test):.4f}")

    if a.part in ("2", "both"):
        keras.utils.set_random_seed(a.seed)
        train = S["Batches"](tx, ty, a.batch2, shuffle=True, seed=a.seed)
        model = S["WRN"](10)                      # fresh model: no Part-1 weights
        optim = keras.optimizers.Adam(a.lr2)
        sb = S["SampleBuffer"]((32, 32, 3), 10, max_samples=10000)
        t0 = time.time()
        losses = []
        step = 0
        while step < a.steps2:
            for x, y in train:
                if step >= a.steps2:
                    break
                out = S["part2_train_step"](optim, model, x, y, sb)
                losses.append(float(out["loss"]))
                step += 1
                if step % 5 == 0 or step == a.steps2:
                    print(f"  JEM step {step}/{a.steps2}: loss {losses[-1]:.4f} "
                          f"ce {float(out['ce']):.4f} ({time.time() - t0:.0f}s)", flush=True)
        print(f"part 2: {a.steps2} JEM steps (batch {a.batch2}, lr {a.lr2}) in "
              f"{time.time() - t0:.0f}s; buffer {len(sb)}; "
              f"test accuracy {S['evaluate_accuracy'](model, test):.4f}")


if __name__ == "__main__":
    main()
