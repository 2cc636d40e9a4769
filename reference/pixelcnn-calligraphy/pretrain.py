"""Pretrain the PA2 model and save the weights students load in C8.

Plays the part of the course's `pixel_cnn_e5.h5`: trains the handout's model (`build_model`) from
solution.py (3,571,925 parameters) on the rendered calligraphy glyphs and writes a
Keras-3 `.weights.h5` file (weights matched by attribute path).

    python reference/pixelcnn-calligraphy/pretrain.py                  # shipped fixture, ~15 min CPU
    python reference/pixelcnn-calligraphy/pretrain.py --data /path/pa2 --minutes 60
    python reference/pixelcnn-calligraphy/pretrain.py --sizes 16,2,2,4 --minutes 3 \
        --out assignments/pixelcnn-calligraphy/data/pixel_cnn_small.weights.h5   # the grader's C8 model

`--sizes` (n_filters, n_resnet, n_block, n_output) trains a smaller model of the same parts: the
model the grader hands the cells that answer C8 (its build costs 0.5 s where Table 1's costs 3 s,
for every submission); the cells' path to the weights maps to this file for that model.

`--data` is a folder with train/ and test/ (the fixture by default).  Training uses
plain Adam (lr 1e-3, no EMA) and stops after `--minutes` of wall clock; the test
binary cross-entropy of a fresh seeded model and of the model with the saved weights
loaded are printed (evaluate_bce on the test folder).
"""
import argparse
import os
import re
import sys
import time
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DATA = REPO / "assignments" / "pixelcnn-calligraphy" / "data"


def load_solution(path=HERE / "solution.py"):
    """Execute solution.py without its `train`/`report`-tagged cells."""
    src = Path(path).read_text()
    cells = re.split(r"^(?=# %%)", src, flags=re.M)
    code = "".join(c for c in cells if not re.match(r"# %%.*tags=", c))
    mod = types.ModuleType("pixelcnn_solution")
    sys.modules[mod.__name__] = mod
    exec(compile(code, str(path), "exec"), mod.__dict__)
    return mod


def build_model(S, sizes=None):
    """The handout's full model, as the solution's notebook builds `pixel_cnn`: the backbone of
    Table 1, a 1x1 convolution to one channel, a sigmoid; compiled with binary cross-entropy."""
    import keras
    inputs = keras.Input(shape=(S.IMG_SIZE, S.IMG_SIZE, 1))
    n_filters, n_resnet, n_block, n_output = sizes or (S.N_FILTERS, S.N_RESNET, S.N_BLOCK, S.N_OUTPUT)
    x = S.AutoregressiveModel(n_resnet=n_resnet, n_filters=n_filters, n_block=n_block, n_output=n_output)(inputs)
    x = keras.layers.Conv2D(1, 1)(x)
    model = keras.Model(inputs, keras.layers.Activation("sigmoid")(x))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def evaluate_bce(model, dataset) -> float:
    return float(model.evaluate(dataset, verbose=0))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA / "pa2"), help="folder with train/ and test/")
    ap.add_argument("--out", default=str(DATA / "pixel_cnn_pretrained.weights.h5"))
    ap.add_argument("--minutes", type=float, default=15.0, help="wall-clock training budget")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sizes", default="", help="n_filters,n_resnet,n_block,n_output (default: Table 1)")
    args = ap.parse_args(argv)

    import keras
    import numpy as np

    S = load_solution()
    sizes = tuple(int(v) for v in args.sizes.split(",")) if args.sizes else None
    train_ds = S.CalligraphyDataset(os.path.join(args.data, "train"), batch_size=args.batch_size,
                                    shuffle=True, seed=args.seed)
    test_ds = S.CalligraphyDataset(os.path.join(args.data, "test"), batch_size=32)

    keras.utils.set_random_seed(args.seed)
    model = build_model(S, sizes)
    print(f"parameters: {model.count_params():,}")
    bce_before = evaluate_bce(model, test_ds)
    print(f"test BCE, fresh seeded init: {bce_before:.4f}", flush=True)

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=args.lr),
                  loss="binary_crossentropy")
    t0, step, epoch = time.time(), 0, 0
    budget = args.minutes * 60
    while time.time() - t0 < budget:
        losses = []
        for k in range(len(train_ds)):
            x, y = train_ds[k]
            losses.append(float(model.train_on_batch(x, y)))
            step += 1
            if time.time() - t0 >= budget:
                break
        train_ds.on_epoch_end()
        epoch += 1
        print(f"epoch {epoch} step {step} train BCE {np.mean(losses):.4f} "
              f"({time.time() - t0:.0f}s)", flush=True)
    # Save through a fresh build_model(): its optimizer is unbuilt (iterations and learning
    # rate only), so the file holds the model weights without Adam's moment estimates
    # (~14 MB instead of ~43 MB) and loads into build_model() without a mismatch warning.
    export = build_model(S, sizes)
    export.set_weights(model.get_weights())
    export.save_weights(args.out)
    print(f"saved {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB) after {step} steps")

    fresh = build_model(S, sizes)
    fresh.load_weights(args.out)
    bce_after = evaluate_bce(fresh, test_ds)
    print(f"test BCE, fresh model + load_weights: {bce_after:.4f} (before {bce_before:.4f})")


if __name__ == "__main__":
    main()
