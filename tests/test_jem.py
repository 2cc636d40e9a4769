"""jem-cifar10 end to end (TensorFlow/Keras kernels): reference, skeleton, one-bug mutants
and the bundled examples through the real pipeline (one module-scoped batch), plus fast
tests of the `statistic` judge and hypothesis properties of the replay-buffer probes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT, assert_only_lost, auto_items, grade_all, write_mutants
from grader import assignment
from grader.checks import statistic

SLUG = "jem-cifar10"
REF = ROOT / "reference" / SLUG / "solution.py"

# name -> (anchor in the reference, replacement, items that must lose points)
MUTANTS = {
    # the reported parameter count (ANSWERS["Q2"] is computed from the student's own WRN) changes too
    "skip-conv-with-bias": (
        "        self.act2 = keras.layers.LeakyReLU()\n"
        "        self.conv2 = keras.layers.Conv2D(out_channels, 3, strides=stride, padding=\"same\")\n"
        "        if downsampling or in_channels != out_channels:\n"
        "            self.skip = keras.layers.Conv2D(out_channels, 1, strides=stride, padding=\"same\",\n"
        "                                            use_bias=False)",
        "        self.act2 = keras.layers.LeakyReLU()\n"
        "        self.conv2 = keras.layers.Conv2D(out_channels, 3, strides=stride, padding=\"same\")\n"
        "        if downsampling or in_channels != out_channels:\n"
        "            self.skip = keras.layers.Conv2D(out_channels, 1, strides=stride, padding=\"same\")",
        {"C1", "Q2"}),
    "stride-on-first-conv": (
        "        self.conv1 = keras.layers.Conv2D(out_channels, 3, padding=\"same\")\n"
        "        self.act2 = keras.layers.LeakyReLU()\n"
        "        self.conv2 = keras.layers.Conv2D(out_channels, 3, strides=stride, padding=\"same\")",
        "        self.conv1 = keras.layers.Conv2D(out_channels, 3, strides=stride, padding=\"same\")\n"
        "        self.act2 = keras.layers.LeakyReLU()\n"
        "        self.conv2 = keras.layers.Conv2D(out_channels, 3, padding=\"same\")",
        {"C1"}),
    "wrn-without-final-activation": (
        "        keras.layers.LeakyReLU(),\n        keras.layers.GlobalAveragePooling2D(),\n"
        "        keras.layers.Dense(num_classes),\n    ], name=\"wrn_16_4\")",
        "        keras.layers.GlobalAveragePooling2D(),\n"
        "        keras.layers.Dense(num_classes),\n    ], name=\"wrn_16_4\")",
        {"C2"}),
    "part1-loss-on-probabilities": (
        "            keras.losses.categorical_crossentropy(y, logits, from_logits=True))",
        "            keras.losses.categorical_crossentropy(y, logits, from_logits=False))",
        {"C3"}),
    "energy-sign": ("        return -tf.reduce_logsumexp(logits, axis=-1)",
                    "        return tf.reduce_logsumexp(logits, axis=-1)", {"C6"}),
    "sampling-adds-gradient": ("data = data - step_size * grad", "data = data + step_size * grad", {"C7"}),
    "lifo-buffer": ("del self.buffer[:excess]", "del self.buffer[-excess:]", {"C8"}),
    "p_new-for-whole-batch": ("is_new = np.random.uniform(size=n_samples) < p_new",
                              "is_new = np.repeat(np.random.uniform() < p_new, n_samples)", {"C8"}),
    "part2-conditional-energy": ("e_real = -tf.reduce_logsumexp(logits, axis=-1)",
                                 "e_real = -tf.gather(logits, label, axis=1, batch_dims=1)", {"C9"}),
}
# a different but correct solution: skip created first under other names, BatchNorm in
# ResBlockRE, numpy-array buffer storage, tf ops for energy/accuracy, a loss object in part 1,
# energy() inside part 2
ALTERNATIVE = [
    ("""        self.act1 = keras.layers.LeakyReLU()
        self.conv1 = keras.layers.Conv2D(out_channels, 3, padding="same")
        self.act2 = keras.layers.LeakyReLU()
        self.conv2 = keras.layers.Conv2D(out_channels, 3, strides=stride, padding="same")
        if downsampling or in_channels != out_channels:
            self.skip = keras.layers.Conv2D(out_channels, 1, strides=stride, padding="same",
                                            use_bias=False)
        else:
            self.skip = None
        # END SOLUTION

    def call(self, x):
        # BEGIN SOLUTION
        h = self.conv1(self.act1(x))
        h = self.conv2(self.act2(h))
        s = x if self.skip is None else self.skip(x)
        return h + s""",
     """        self.shortcut = (keras.layers.Conv2D(out_channels, (1, 1), strides=(stride, stride), use_bias=False)
                         if (in_channels != out_channels or downsampling) else None)
        self.f = [keras.layers.LeakyReLU(), keras.layers.Conv2D(out_channels, (3, 3), padding="same"),
                  keras.layers.LeakyReLU(), keras.layers.Conv2D(out_channels, (3, 3), strides=stride, padding="same")]
        # END SOLUTION

    def call(self, x):
        # BEGIN SOLUTION
        h = x
        for layer in self.f:
            h = layer(h)
        return h + (self.shortcut(x) if self.shortcut is not None else x)"""),
    ("self.dropout = keras.layers.Dropout(dropout_rate)", "self.dropout = keras.layers.BatchNormalization()"),
    ("""        loss = tf.reduce_mean(
            keras.losses.categorical_crossentropy(y, logits, from_logits=True))""",
     """        loss = keras.losses.CategoricalCrossentropy(from_logits=True)(y, logits)"""),
    ("""        pred = np.argmax(np.asarray(logits), axis=-1)
        labels = np.asarray(labels).reshape(-1)
        correct += int(np.sum(pred == labels))""",
     """        pred = tf.argmax(logits, axis=-1, output_type=tf.int64)
        labels = tf.cast(tf.reshape(labels, [-1]), tf.int64)
        correct += int(tf.reduce_sum(tf.cast(tf.equal(pred, labels), tf.int32)))"""),
    ("""    label = tf.cast(tf.reshape(label, [-1]), tf.int32)
    return -tf.gather(logits, label, axis=1, batch_dims=1)""",
     """    return -tf.reduce_sum(logits * tf.one_hot(tf.cast(label, tf.int32), logits.shape[-1]), axis=-1)"""),
    ("""        samples = np.asarray(samples, dtype=np.float32)
        labels = np.asarray(labels).reshape(-1).astype(np.int64)
        self.buffer.extend(zip(samples, labels))
        excess = len(self.buffer) - self.max_samples
        if excess > 0:
            del self.buffer[:excess]          # FIFO: the oldest go first""",
     """        samples = np.asarray(samples, dtype=np.float32)
        labels = np.asarray(labels).reshape(-1).astype(np.int64)
        if not hasattr(self, "xs"):
            self.xs = np.zeros((0,) + self.sample_shape, np.float32)
            self.ys = np.zeros((0,), np.int64)
        self.xs = np.concatenate([self.xs, samples])[-self.max_samples:]
        self.ys = np.concatenate([self.ys, labels])[-self.max_samples:]
        self.buffer = list(range(len(self.xs)))"""),
    ("""        new_x = np.random.uniform(0.0, 1.0, size=(n_samples,) + self.sample_shape).astype(np.float32)
        new_y = np.random.randint(0, self.n_class, size=n_samples).astype(np.int64)
        if not self.buffer:
            return new_x, new_y
        is_new = np.random.uniform(size=n_samples) < p_new
        idx = np.random.randint(0, len(self.buffer), size=n_samples)
        images = np.stack([new_x[i] if is_new[i] else self.buffer[idx[i]][0]
                           for i in range(n_samples)]).astype(np.float32)
        labels = np.where(is_new, new_y, [self.buffer[j][1] for j in idx]).astype(np.int64)
        return images, labels""",
     """        x = np.random.rand(n_samples, *self.sample_shape).astype(np.float32)
        y = np.random.randint(self.n_class, size=n_samples)
        if len(self.buffer) == 0:
            return x, y
        old = np.random.rand(n_samples) >= p_new
        pick = np.random.choice(len(self.xs), size=int(old.sum()), replace=True)
        x[old], y[old] = self.xs[pick], self.ys[pick]
        return x, y"""),
    ("""        e_real = -tf.reduce_logsumexp(logits, axis=-1)      # E(x), unconditional
        e_fake = -tf.reduce_logsumexp(logits_s, axis=-1)    # E(x'_+), unconditional
        loss = ce + tf.reduce_mean(e_real) - tf.reduce_mean(e_fake)""",
     """        loss = ce + tf.reduce_mean(energy(model, x)) - tf.reduce_mean(energy(model, x_s))"""),
]
EXAMPLES = {"colab-stride-first-sampling-ascent.ipynb": {"C1", "C7"},
            "zip-lifo-conditional-energy.zip": {"C8", "C9"}}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    paths = write_mutants(tmp_path_factory.mktemp("subs"), REF.read_text(), MUTANTS, ALTERNATIVE)
    a = assignment.get(SLUG)
    examples = [a.directory / "examples" / n for n in EXAMPLES]
    return grade_all(SLUG, [REF, a.skeleton, *paths, *examples], tmp_path_factory.mktemp("out"))


@pytest.mark.slow
def test_reference_earns_every_auto_point(graded):
    a, res = graded
    r = res["solution.py"]
    assert r.status == "graded"
    assert r.auto_points == pytest.approx(a.auto_max), [(i.id, [c.message for c in i.checks if not c.passed])
                                                        for i in r.items]


@pytest.mark.slow
def test_skeleton_earns_nothing(graded):
    a, res = graded
    r = res["skeleton.ipynb"]
    assert r.status == "graded"
    assert r.auto_points == 0, [(i.id, i.points) for i in r.items if i.points]


@pytest.mark.slow
def test_alternative_correct_solution_earns_every_auto_point(graded):
    a, res = graded
    r = res["alternative.py"]
    assert r.auto_points == pytest.approx(a.auto_max), [(i.id, [c.message for c in i.checks if not c.passed])
                                                        for i in r.items]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_loses_only_its_item(graded, name):
    a, res = graded
    assert_only_lost(a, res[f"{name}.py"], MUTANTS[name][2])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_lose_their_bugs_only(graded, name):
    a, res = graded
    assert_only_lost(a, res[name], EXAMPLES[name])


@pytest.mark.slow
def test_feedback_names_the_bug(graded):
    a, res = graded
    c1 = " ".join(c.message for c in res["stride-on-first-conv.py"].item("C1").checks)
    assert "second 3x3 convolution" in c1
    c8 = " ".join(c.message for c in res["p_new-for-whole-batch.py"].item("C8").checks)
    assert "new per call" in c8 and "p = " in c8
    lifo = res["lifo-buffer.py"].item("C8")   # evicting the newest also breaks the cap rule; p_new is fine
    assert {c.name for c in lifo.checks if not c.passed} == {"FIFO eviction", "cap"}
    pnew = res["p_new-for-whole-batch.py"].item("C8")
    assert {c.name for c in pnew.checks if not c.passed} == {"p_new per sample"}
    assert res["sampling-adds-gradient.py"].item("C7").checks[1].passed   # the noise test is separate


def test_rubric_matches_the_handout():
    a = assignment.get(SLUG)
    pts = {it.id: it.points for it in a.items}
    assert {k: pts[k] for k in ("C1", "C2", "Q2", "C3", "C4", "C5", "C6", "C7", "C8", "C9")} == \
        {"C1": 7, "C2": 7, "Q2": 3, "C3": 7, "C4": 5, "C5": 4, "C6": 2, "C7": 8, "C8": 7, "C9": 15}
    bonus = {f"B{i}" for i in range(1, 6)}
    assert sum(v for k, v in pts.items() if k not in bonus) == 100
    assert a.auto_max == 65
    assert {it.id for it in a.items if it.manual} == {"Q1", *(f"Q{i}" for i in range(3, 11)), *bonus}
    assert len(auto_items(a)) == 10


# ---- the statistic judge ---------------------------------------------------------------------

NOISE = {"tests": [{"name": "residual", "test": "normal", "key": "residual", "mean": 0.0, "sd": 0.05}]}
PNEW = {"tests": [{"test": "binomial", "key": "k", "n": "n", "p": 0.3},
                  {"test": "dispersion", "key": "k", "n": "n", "p": 0.3}]}


def test_statistic_normal_accepts_normal_rejects_others():
    rng = np.random.default_rng(1)
    ok = statistic.judge(NOISE, {"residual": rng.normal(0, 0.05, 20000)}, None)
    assert ok.fraction == 1.0, ok.message
    for bad in (rng.normal(0, 0.01, 20000), rng.normal(0.01, 0.05, 20000),
                rng.uniform(-0.05 * 3 ** 0.5, 0.05 * 3 ** 0.5, 20000)):
        v = statistic.judge(NOISE, {"residual": bad}, None)
        assert v.fraction < 1.0 and "p = " in v.message
    assert statistic.judge(NOISE, {"residual": np.zeros(0)}, None).fraction == 0.0
    assert statistic.judge(NOISE, {"residual": "junk"}, None).fraction == 0.0


def test_statistic_binomial_and_dispersion():
    rng = np.random.default_rng(2)
    indep = rng.binomial(20, 0.3, 60).tolist()
    assert statistic.judge(PNEW, {"k": indep, "n": 20}, None).fraction == 1.0
    whole = (20 * (rng.uniform(size=60) < 0.3)).tolist()      # the whole batch new or none
    assert statistic.judge(PNEW, {"k": whole, "n": 20}, None).fraction < 1.0
    exact = [6] * 60                                            # always exactly n * p_new
    v = statistic.judge(PNEW, {"k": exact, "n": 20}, None)
    assert v.fraction == 0.5 and "independence" in v.message
    assert statistic.judge(PNEW, {"k": [25] * 60, "n": 20}, None).fraction == 0.0


def test_statistic_distribution_helpers():
    assert statistic.norm_sf(0.0) == pytest.approx(0.5)
    assert statistic.two_sided_normal_p(1.959964) == pytest.approx(0.05, rel=1e-4)
    assert statistic.chi2_sf(18.307, 10) == pytest.approx(0.05, rel=0.05)
    assert statistic.binom_two_sided_p(5, 10, 0.5) == pytest.approx(1.0)
    assert statistic.binom_two_sided_p(0, 10, 0.5) == pytest.approx(2 * 0.5 ** 10)


# ---- hypothesis: the buffer probes' deterministic properties, against the reference buffer ----

def _reference_buffer():
    import importlib.util
    spec = importlib.util.spec_from_file_location("jem_probes", ROOT / "assignments" / SLUG / "probes.py")
    probes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probes)
    src = REF.read_text()
    start = src.index("class SampleBuffer")
    ns = {"np": np}
    exec(src[start:src.index("# %%", start)], ns)
    return probes, ns["SampleBuffer"]


PROBES, SAMPLE_BUFFER = _reference_buffer()


@settings(max_examples=40, deadline=None)
@given(cap=st.integers(1, 12), adds=st.lists(st.integers(0, 15), min_size=1, max_size=6))
def test_fifo_keeps_the_newest_cap_samples(cap, adds):
    shape = (2, 2, 1)
    sb = SAMPLE_BUFFER(shape, 10, max_samples=cap)
    ids, nxt = [], 0
    for k in adds:
        batch = list(range(nxt, nxt + k))
        nxt += k
        if k:
            sb.add_to_buffer(*PROBES._tagged(batch, shape))
        ids += batch
    assert len(sb) == min(cap, len(ids))
    if ids:
        x, y = sb.sample_from_buffer(400, p_new=0.0)
        got, const = PROBES._ids_of(x)
        assert const.all() and set(got.tolist()) <= set(ids[-cap:])
        assert np.array_equal(np.asarray(y), got % 10)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), p_new=st.floats(0, 1), k=st.integers(1, 10))
def test_sample_shapes_and_ranges(n, p_new, k):
    shape = (2, 2, 3)
    sb = SAMPLE_BUFFER(shape, 10, max_samples=50)
    sb.add_to_buffer(*PROBES._tagged(range(k), shape))
    x, y = sb.sample_from_buffer(n, p_new=p_new)
    assert np.shape(x) == (n, *shape) and np.shape(y) == (n,)
    ids, const = PROBES._ids_of(x)
    assert np.all((ids[const] >= 0) & (ids[const] < k))          # buffered: one of the k added
    assert np.all((np.asarray(y) >= 0) & (np.asarray(y) < 10))
    empty = SAMPLE_BUFFER(shape, 10, max_samples=5)
    ex, ey = empty.sample_from_buffer(n, p_new=0.0)
    assert np.shape(ex) == (n, *shape) and np.all((ex >= 0) & (ex <= 1))


@settings(max_examples=25, deadline=None)
@given(ids=st.lists(st.integers(0, 62), min_size=1, max_size=20))
def test_tagged_images_decode_to_their_ids(ids):
    x, y = PROBES._tagged(ids, (3, 3, 3))
    got, const = PROBES._ids_of(x)
    assert const.all() and got.tolist() == ids and np.array_equal(y, np.asarray(ids) % 10)
