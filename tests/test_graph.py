"""grader/graph.py and the adapters' traces, in-process (no kernel): the reference networks
against correct re-writes in the styles students use (one Sequential, other names, one shared
ReLU / MaxPool2d, functional activations, another creation order, the other cat order, an
explicit pad) compare equal; one-bug mutants compare unequal and say what differs; weights
move between differently written models op by op (both frameworks)."""
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT
from torch import nn

from grader import graph
from grader.frameworks import torch as tfw

sys.path.insert(0, str(ROOT / "reference" / "colourization-cifar10"))
from solution_loader import load_solution  # noqa: E402

S = load_solution(str(ROOT / "reference" / "colourization-cifar10" / "solution.py"))
ARGS = (3, 8, 24, 1)           # kernel, num_filters, num_colours, num_in_channels
X = torch.rand(2, 1, 32, 32)


def traced(cls, *args, x=X):
    torch.manual_seed(0)
    return tfw.trace(cls(*(args or ARGS)), [x])


def compared(want_cls, got_cls, *, x=X, opts=graph.Options(), **kw):
    want, got = graph.canonical(traced(want_cls, x=x)), graph.canonical(traced(got_cls, x=x), **kw)
    return graph.compare(want, got, opts)


# ---- PoolUpsampleNet (Figure 1a) written as students write it --------------------------------------

class PoolOneSequential(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        p, NF, NC = kernel // 2, num_filters, num_colours
        self.net = nn.Sequential(
            nn.Conv2d(num_in_channels, NF, kernel, padding=p), nn.MaxPool2d(2), nn.BatchNorm2d(NF), nn.ReLU(),
            nn.Conv2d(NF, 2 * NF, kernel, padding=p), nn.MaxPool2d(2), nn.BatchNorm2d(2 * NF), nn.ReLU(),
            nn.Conv2d(2 * NF, NF, kernel, padding=p), nn.Upsample(scale_factor=2), nn.BatchNorm2d(NF), nn.ReLU(),
            nn.Conv2d(NF, NC, kernel, padding=p), nn.Upsample(scale_factor=2), nn.BatchNorm2d(NC), nn.ReLU(),
            nn.Conv2d(NC, NC, kernel, padding=p))

    def forward(self, x):
        return self.net(x)


class PoolSharedStateless(nn.Module):
    """Other names, one ReLU, one MaxPool2d and one Upsample used several times."""

    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        p, NF, NC = kernel // 2, num_filters, num_colours
        self.down_a = nn.Conv2d(num_in_channels, NF, kernel, padding=p)
        self.norm_a = nn.BatchNorm2d(NF)
        self.down_b = nn.Conv2d(NF, 2 * NF, kernel, padding=p)
        self.norm_b = nn.BatchNorm2d(2 * NF)
        self.up_a = nn.Conv2d(2 * NF, NF, kernel, padding=p)
        self.norm_c = nn.BatchNorm2d(NF)
        self.up_b = nn.Conv2d(NF, NC, kernel, padding=p)
        self.norm_d = nn.BatchNorm2d(NC)
        self.out = nn.Conv2d(NC, NC, kernel, padding=p)
        self.act, self.pool, self.grow = nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Upsample(scale_factor=2)

    def forward(self, x):
        x = self.act(self.norm_a(self.pool(self.down_a(x))))
        x = self.act(self.norm_b(self.pool(self.down_b(x))))
        x = self.act(self.norm_c(self.grow(self.up_a(x))))
        x = self.act(self.norm_d(self.grow(self.up_b(x))))
        return self.out(x)


class PoolFunctional(nn.Module):
    """Functional pooling, upsampling and activations (four spellings of ReLU)."""

    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        p, NF, NC = kernel // 2, num_filters, num_colours
        self.convs = nn.ModuleList([nn.Conv2d(num_in_channels, NF, kernel, padding=p),
                                    nn.Conv2d(NF, 2 * NF, kernel, padding=p), nn.Conv2d(2 * NF, NF, kernel, padding=p),
                                    nn.Conv2d(NF, NC, kernel, padding=p), nn.Conv2d(NC, NC, kernel, padding=p)])
        self.bns = nn.ModuleList([nn.BatchNorm2d(c) for c in (NF, 2 * NF, NF, NC)])

    def forward(self, x):
        x = F.relu(self.bns[0](F.max_pool2d(self.convs[0](x), 2)))
        x = self.bns[1](F.max_pool2d(self.convs[1](x), kernel_size=2, stride=2)).relu()
        x = torch.relu(self.bns[2](F.interpolate(self.convs[2](x), scale_factor=2)))
        x = F.relu(self.bns[3](F.interpolate(self.convs[3](x), size=(32, 32), mode="nearest")), inplace=True)
        return self.convs[4](x)


class PoolCreatedBackwards(nn.Module):
    """Layers created in another order than they run, blocks from a helper, an explicit pad."""

    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        NF, NC = num_filters, num_colours

        def block(cin, cout, resize):
            return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=kernel // 2), resize, nn.BatchNorm2d(cout),
                                 nn.ReLU())
        self.final = nn.Conv2d(NC, NC, kernel)            # padded by hand in forward
        self.b4 = block(NF, NC, nn.Upsample(scale_factor=2))
        self.b3 = block(2 * NF, NF, nn.Upsample(scale_factor=2))
        self.b2 = block(NF, 2 * NF, nn.MaxPool2d(2))
        self.b1 = block(num_in_channels, NF, nn.MaxPool2d(2))

    def forward(self, x):
        x = self.b4(self.b3(self.b2(self.b1(x))))
        return self.final(F.pad(x, (1, 1, 1, 1)))


class PoolMutant(nn.Module):
    """The reference's PoolUpsampleNet with one bug."""

    def __init__(self, kernel, num_filters, num_colours, num_in_channels, bug=""):
        super().__init__()
        p, NF, NC = kernel // 2, num_filters, num_colours
        k2, p2 = (5, 2) if bug == "kernel5" else (kernel, p)
        self.c1 = nn.Conv2d(num_in_channels, NF, kernel, padding=p)
        self.n1 = nn.BatchNorm2d(NF)
        self.c2 = nn.Conv2d(NF, 2 * NF, k2, padding=p2)
        self.n2 = nn.BatchNorm2d(2 * NF)
        self.c3 = nn.Conv2d(2 * NF, NF, kernel, padding=p)
        self.n3 = nn.BatchNorm2d(NF)
        self.c4 = nn.Conv2d(NF, NC, kernel, padding=p)
        self.n4 = nn.BatchNorm2d(NC)
        self.c5 = nn.Conv2d(NC, NC, kernel, padding=p)
        self.bug = bug

    def forward(self, x):
        if self.bug == "bn-before-pool":
            x = F.relu(F.max_pool2d(self.n1(self.c1(x)), 2))
        else:
            x = F.relu(self.n1(F.max_pool2d(self.c1(x), 2)))
        x = F.max_pool2d(self.c2(x), 2)
        x = F.relu(x if self.bug == "no-batchnorm" else self.n2(x))
        x = self.n3(F.interpolate(self.c3(x), scale_factor=2))
        x = x if self.bug == "no-relu" else F.relu(x)
        x = F.relu(self.n4(F.interpolate(self.c4(x), scale_factor=2)))
        return self.c5(x)


POOL_VARIANTS = [PoolOneSequential, PoolSharedStateless, PoolFunctional, PoolCreatedBackwards, PoolMutant]


@pytest.mark.parametrize("cls", POOL_VARIANTS, ids=lambda c: c.__name__)
def test_pool_upsample_rewrites_compare_equal(cls):
    c = compared(S.PoolUpsampleNet, cls)
    assert c.equal, c.differences
    assert c.fraction(0.25) == 1.0


@pytest.mark.parametrize("bug,says", [
    ("kernel5", "expected Conv2d(8->16, k3, p1) after ReLU, found Conv2d(8->16, k5, p2)"),
    ("no-batchnorm", "BatchNorm(16) after MaxPool2d(2) is missing"),
    ("no-relu", "ReLU after BatchNorm(8) is missing"),
    # the handout's Figure 1a fixes Conv -> MaxPool -> BatchNorm -> ReLU
    ("bn-before-pool", "MaxPool2d(2) and BatchNorm(8) are in the wrong order: expected MaxPool2d(2) then "
                       "BatchNorm(8) after Conv2d(1->8, k3, p1)"),
])
def test_pool_upsample_mutants_differ_and_say_how(bug, says):
    want = graph.canonical(traced(S.PoolUpsampleNet))
    got = graph.canonical(tfw.trace(PoolMutant(*ARGS, bug=bug), [X]))
    c = graph.compare(want, got)
    assert not c.equal
    assert says in c.differences, c.differences
    assert len(c.differences) == 1, c.differences
    assert c.fraction(0.25) == 0.75 and c.fraction() == 0.0


# ---- ConvTransposeNet (Figure 1b) and UNet (Figure 1c) ------------------------------------------------

class ConvTLoop(nn.Module):
    """Blocks in a ModuleList run in a loop, one shared ReLU, in-place activations."""

    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        NF, NC, p = num_filters, num_colours, (kernel - 1) // 2
        op = 2 * p - kernel + 2
        chans = [num_in_channels, NF, 2 * NF, NF, NC]
        self.layers = nn.ModuleList()
        for i, (a, b) in enumerate(zip(chans, chans[1:])):
            conv = nn.Conv2d(a, b, kernel, stride=2, padding=p) if i < 2 else \
                nn.ConvTranspose2d(a, b, kernel, stride=2, padding=p, output_padding=op)
            self.layers.append(nn.ModuleDict({"conv": conv, "bn": nn.BatchNorm2d(b)}))
        self.relu = nn.ReLU(inplace=True)
        self.last = nn.Conv2d(NC, NC, kernel, padding=kernel // 2)

    def forward(self, x):
        for layer in self.layers:
            x = self.relu(layer["bn"](layer["conv"](x)))
        return self.last(x)


class UNetStudent(nn.Module):
    """Other names, functional ReLU, creation order reversed, cats in the other order."""

    def __init__(self, kernel, num_filters, num_colours, num_in_channels, bug=""):
        super().__init__()
        NF, NC, NIC, p = num_filters, num_colours, num_in_channels, (kernel - 1) // 2
        self.out = nn.Conv2d(NC + NIC, NC, kernel, padding=kernel // 2)
        self.bn4, self.up2 = nn.BatchNorm2d(NC), nn.ConvTranspose2d(2 * NF, NC, kernel, 2, p, output_padding=1)
        self.bn3, self.up1 = nn.BatchNorm2d(NF), nn.ConvTranspose2d(2 * NF, NF, kernel, 2, p, output_padding=1)
        self.bn2, self.down2 = nn.BatchNorm2d(2 * NF), nn.Conv2d(NF, 2 * NF, kernel, 2, p)
        self.bn1, self.down1 = nn.BatchNorm2d(NF), nn.Conv2d(NIC, NF, kernel, 2, p)
        self.bug = bug

    def forward(self, x):
        d1 = F.relu(self.bn1(self.down1(x)))
        d2 = F.relu(self.bn2(self.down2(d1)))
        u1 = F.relu(self.bn3(self.up1(d2)))
        skip = u1 if self.bug == "skip-from-wrong-layer" else d1
        u2 = F.relu(self.bn4(self.up2(torch.cat((skip, u1), dim=-3))))
        return self.out(torch.cat([x, u2], 1))


def test_convtranspose_loop_compares_equal():
    c = compared(S.ConvTransposeNet, ConvTLoop)
    assert c.equal, c.differences


def test_unet_with_other_names_order_and_cat_order_compares_equal():
    c = compared(S.UNet, UNetStudent)
    assert c.equal, c.differences
    # unless the contract fixes the order inside a cat
    fixed = compared(S.UNet, UNetStudent, opts=graph.Options(free_cat=False))
    assert not fixed.equal


def test_unet_skip_from_the_wrong_layer_is_a_data_flow_difference():
    want = graph.canonical(traced(S.UNet))
    got = graph.canonical(tfw.trace(UNetStudent(*ARGS, bug="skip-from-wrong-layer"), [X]))
    c = graph.compare(want, got)
    assert not c.equal and len(c.differences) == 1, c.differences
    assert c.differences[0] == "the 1st cat(dim 1) reads the 3rd ReLU, the 3rd ReLU; expected the 3rd ReLU, the 1st ReLU"
    # shapes and parameter counts cannot see it
    assert graph.compare_shapes(want, got).equal and graph.compare_params(want, got).equal


def test_a_unet_without_skips_is_told_what_is_missing():
    c = compared(S.UNet, lambda *a: S.ConvTransposeNet(*a))
    assert c.differences == [
        "expected Conv2d(25->24, k3, p1) after cat(dim 1), found Conv2d(24->24, k3, p1)",
        "expected ConvTranspose2d(16->24, k3, s2, p1, op1) after cat(dim 1), found ConvTranspose2d(8->24, k3, s2, p1, op1)",
        "cat(dim 1) of ReLU and ReLU is missing",
        "cat(dim 1) of ReLU and the input is missing"], c.differences


def test_a_runaway_forward_pass_is_refused(monkeypatch):
    monkeypatch.setattr(tfw, "_MAX_TRACE", 5)
    with pytest.raises(ValueError, match="more than 5 operations"):
        traced(S.UNet)


# ---- shapes, parameter counts, scopes and op kinds -------------------------------------------------------

def test_shapes_and_params_op_by_op_without_names():
    want = graph.canonical(traced(S.PoolUpsampleNet))
    for cls in POOL_VARIANTS:
        got = graph.canonical(traced(cls))
        assert graph.compare_shapes(want, got).equal and graph.compare_params(want, got).equal
    bad = graph.canonical(tfw.trace(PoolMutant(*ARGS, bug="kernel5"), [X]))
    c = graph.compare_params(want, bad)
    assert c.differences == ["11,528 parameters in all, expected 9,480",
                             "the 2nd Conv2d(8->16, k5, p2) has 3,216 parameters, expected 1,168"]
    assert graph.unique_params(want) == sum(p.numel() for p in S.PoolUpsampleNet(*ARGS).parameters())
    convt = graph.canonical(tfw.trace(S.ConvTransposeNet(3, 8, 24, 1), [X]))
    c = graph.compare_shapes(convt, graph.canonical(tfw.trace(_no_output_padding(), [X])))
    assert c.differences == ["the 1st ConvTranspose2d(16->8, k3, s2, p1) outputs (2, 8, 15, 15), expected (2, 8, 16, 16)"]


def _no_output_padding():
    m = S.ConvTransposeNet(3, 8, 24, 1)
    for mod in m.modules():
        if isinstance(mod, nn.ConvTranspose2d):
            mod.output_padding = (0, 0)
    return m


def test_scope_and_op_kinds_restrict_what_is_compared():
    import importlib.util
    spec = importlib.util.spec_from_file_location("den", ROOT / "reference" / "denoising-autoencoder" / "models.py")
    D = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(D)
    z = torch.randn(2, 16)
    ref = tfw.trace(D.Decoder(z_dim=16), [z])

    class Decoder(nn.Module):   # LeakyReLU, no BatchNorm, a Tanh: activations and norms are free in 2b
        def __init__(self, z_dim=64, img_size=64):
            super().__init__()
            self.z_dim = z_dim
            spec = [(z_dim, 128, 7, 1), (128, 64, 3, 2), (64, 64, 3, 2), (64, 32, 3, 2)]
            for i, (a, b, k, s) in enumerate(spec, 1):
                setattr(self, f"layer{i}", nn.Sequential(nn.ConvTranspose2d(a, b, k, stride=s), nn.LeakyReLU(0.2),
                                                         nn.Conv2d(b, b, 3, padding=1), nn.LeakyReLU(0.2)))
            self.layer5 = nn.Sequential(nn.ConvTranspose2d(32, 32, 2), nn.Conv2d(32, 3, 1), nn.Tanh())

        def forward(self, z):
            x = z.reshape(-1, self.z_dim, 1, 1)
            for i in range(1, 6):
                x = getattr(self, f"layer{i}")(x)
            return x
    got = tfw.trace(Decoder(z_dim=16), [z])
    convs = ["conv_transpose2d", "conv2d"]
    for scope in ("layer1", "layer3", "layer5"):
        assert graph.compare(graph.canonical(ref, scope, convs), graph.canonical(got, scope, convs)).equal
        assert not graph.compare(graph.canonical(ref, scope), graph.canonical(got, scope)).equal
    assert graph.canonical(got, "layer6") is None
    # the fields compared
    opts = graph.Options(fields=("out", "kernel"))
    a, b = graph.canonical(ref, "layer2", convs), graph.canonical(got, "layer2", convs)
    assert graph.compare(a, b, opts).equal


def test_parameter_sharing_is_not_module_reuse():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return self.conv(F.relu(self.conv(x)))

    class TwoConvs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return self.b(F.relu(self.a(x)))
    x = torch.randn(1, 4, 8, 8)
    c = graph.compare(graph.canonical(tfw.trace(TwoConvs(), [x])), graph.canonical(tfw.trace(Twice(), [x])))
    assert not c.equal


# ---- untrusted traces -------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    None, [], "nodes", [{"id": 0, "op": "input"}],                                    # no output
    [{"id": 0, "op": "input"}, {"id": 1, "op": "output", "in": [5]}],                 # reads a later node
    [{"id": 0, "op": "input"}, {"id": 0, "op": "output", "in": [0]}],                 # id twice
    [{"id": 0, "op": "input", "args": {"x": float("nan")}}, {"id": 1, "op": "output", "in": [0]}],
    [{"id": 0, "op": "input", "args": {"x": object()}}, {"id": 1, "op": "output", "in": [0]}],
    [{"id": 0, "op": "input", "params": [{"name": "w", "shape": [-1]}]}, {"id": 1, "op": "output", "in": [0]}],
    [{"id": "0", "op": "input"}, {"id": 1, "op": "output", "in": [0]}],
    [{"id": 0, "op": "input"}, {"id": 1, "op": "output", "in": [0]}, {"id": 2, "op": "relu", "in": [0]}],
])
def test_malformed_traces_are_refused(bad):
    with pytest.raises(graph.InvalidGraph):
        graph.parse(bad)


def test_traces_are_plain_json():
    import json
    nodes = traced(S.UNet)
    assert json.loads(json.dumps(nodes)) == nodes
    assert [n.op for n in graph.parse(nodes)][:2] == ["input", "conv2d"]


# ---- weights transferred op by op (torch) -----------------------------------------------------------------

def test_torch_weights_move_by_traced_order_not_by_name():
    torch.manual_seed(1)
    ref = S.PoolUpsampleNet(*ARGS)
    tfw.randomize_state(ref, 3)
    for cls in (PoolCreatedBackwards, PoolSharedStateless, PoolFunctional):
        student = cls(*ARGS)
        # the old rule (by name, else by creation order) cannot pair a model created backwards
        if cls is PoolCreatedBackwards:
            with pytest.raises(ValueError):
                tfw.transfer_weights(ref, student)
        mapping = tfw.transfer_traced(ref, student, [X])
        assert mapping["conv1.0.weight"] in dict(student.named_parameters())
        np.testing.assert_allclose(tfw.predict(student, X.numpy()), tfw.predict(ref, X.numpy()), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="cannot pair"):
        tfw.transfer_traced(ref, PoolMutant(*ARGS, bug="kernel5"), [X])


# ---- Keras: raw TF ops and built-in layers in one vocabulary ------------------------------------------------

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from grader.frameworks import keras as kfw  # noqa: E402

C = load_solution(str(ROOT / "reference" / "pixelcnn-calligraphy" / "solution.py"))


def ktrace(model, shape, seed=0):
    kfw.seed(seed)
    return kfw.trace(model, [kfw.example_input(shape, seed)])


def kcompare(want, got, shape, opts=graph.Options(), **kw):
    return graph.compare(graph.canonical(ktrace(want, shape), **kw), graph.canonical(ktrace(got, shape), **kw), opts)


class ResAttrs(keras.layers.Layer):
    """jem's ResBlock without downsampling: LeakyReLU -> Conv3x3 -> LeakyReLU -> Conv3x3, identity
    skip; attributes, one LeakyReLU layer used twice."""

    def __init__(self, c=4, **kw):
        super().__init__(**kw)
        self.act = keras.layers.LeakyReLU()
        self.conv1 = keras.layers.Conv2D(c, 3, padding="same")
        self.conv2 = keras.layers.Conv2D(c, 3, padding="same")

    def call(self, x):
        return x + self.conv2(self.act(self.conv1(self.act(x))))


class ResList(keras.layers.Layer):
    """The same from a list filled backwards, functional LeakyReLU, tf.pad + valid convolutions, ops.add."""

    def __init__(self, c=4, slope=0.3, skip=True, **kw):
        super().__init__(**kw)
        self.convs = [keras.layers.Conv2D(c, 3), keras.layers.Conv2D(c, 3)]
        self.slope, self.skip = slope, skip

    def call(self, x):
        h = x
        for conv in reversed(self.convs):
            h = conv(tf.pad(ops.leaky_relu(h, negative_slope=self.slope), [[0, 0], [1, 1], [1, 1], [0, 0]]))
        return ops.add(h, x) if self.skip else h


class ResSequential(keras.layers.Layer):
    def __init__(self, c=4, **kw):
        super().__init__(**kw)
        self.body = keras.Sequential([keras.layers.LeakyReLU(), keras.layers.Conv2D(c, 3, padding="same"),
                                      keras.layers.LeakyReLU(negative_slope=0.3), keras.layers.Conv2D(c, 3, padding="same")])

    def call(self, x):
        return keras.layers.Add()([self.body(x), x])


@pytest.mark.parametrize("cls", [ResList, ResSequential], ids=lambda c: c.__name__)
def test_keras_residual_blocks_in_other_styles_compare_equal(cls):
    c = kcompare(ResAttrs(), cls(), [2, 6, 6, 4])
    assert c.equal, c.differences


def test_keras_residual_block_mutants():
    c = kcompare(ResAttrs(), ResList(slope=0.2), [2, 6, 6, 4])
    assert c.differences == ["expected LeakyReLU(0.3) first, found LeakyReLU(0.2)",
                             "expected LeakyReLU(0.3) after Conv2d(4->4, k3, p1), found LeakyReLU(0.2)"]
    c = kcompare(ResAttrs(), ResList(skip=False), [2, 6, 6, 4])
    assert c.differences == ["add of the input and Conv2d(4->4, k3, p1) is missing"], c.differences


class DownRightZeroPadding(keras.layers.Layer):
    """C3 with ZeroPadding2D (keras.ops.pad inside) instead of the reference's ops.pad."""

    def __init__(self, num_filters, filter_size=[2, 2], strides=[1, 1], padding="valid", activation=None, **kw):
        super().__init__(**kw)
        self.filter_size = list(filter_size)
        fh, fw = self.filter_size
        self.shift = keras.layers.ZeroPadding2D(((fh - 1, 0), (fw - 1, 0)))
        self.conv = keras.layers.Conv2D(num_filters, filter_size, strides=strides, padding=padding, activation=activation)

    def call(self, x):
        return self.conv(self.shift(x))


class DownRightTfPad(keras.layers.Layer):
    """C3 with tf.pad; `wrong` pads the bottom and right instead (not causal)."""

    def __init__(self, num_filters, filter_size=[2, 2], strides=[1, 1], padding="valid", activation=None,
                 wrong=False, **kw):
        super().__init__(**kw)
        self.filter_size, self.wrong = list(filter_size), wrong
        self.conv = keras.layers.Conv2D(num_filters, filter_size, strides=strides, padding=padding, activation=activation)

    def call(self, x):
        fh, fw = self.filter_size
        pads = [[0, 0], [0, fh - 1], [0, fw - 1], [0, 0]] if self.wrong else [[0, 0], [fh - 1, 0], [fw - 1, 0], [0, 0]]
        return self.conv(tf.pad(x, pads))


def test_calligraphy_down_right_conv_any_pad_spelling():
    shape = [2, 6, 7, 3]
    for cls in (DownRightZeroPadding, DownRightTfPad):
        c = kcompare(C.DownRightMovedConv2d(4, filter_size=[2, 3]), cls(4, filter_size=[2, 3]), shape)
        assert c.equal, c.differences
    c = kcompare(C.DownRightMovedConv2d(4, filter_size=[2, 3]), DownRightTfPad(4, filter_size=[2, 3], wrong=True), shape)
    assert c.differences == ["expected Conv2d(3->4, k(2,3), p(1,0,2,0)) first, "
                             "found Conv2d(3->4, k(2,3), p(0,1,0,2))"], c.differences


class GatedStudent(keras.layers.Layer):
    """C6 as a student writes it: layers created in the other order, the gate by slicing, tf.sigmoid,
    their own concat_elu with the cat the other way round."""

    def __init__(self, num_filters, activation=None, bug="", **kw):
        super().__init__(**kw)
        self.nnLayer_2 = C.DownRightMovedConv2d(num_filters * 2)
        self.nnLayer_1 = C.DownRightMovedConv2d(num_filters)
        self.nonlinearity = activation or (lambda t: tf.nn.elu(tf.concat([-t, t], axis=3)))
        self.n, self.bug = num_filters, bug

    def call(self, x):
        h = self.nnLayer_2(self.nonlinearity(self.nnLayer_1(self.nonlinearity(x))))
        f, g = h[..., :self.n], h[..., self.n:]
        if self.bug == "gate-on-f":
            f, g = g, f
        out = tf.sigmoid(g) * f
        return out if self.bug == "no-residual" else out + x


def test_calligraphy_gated_resnet_rewrite_and_mutants():
    shape = [2, 5, 6, 4]
    assert kcompare(C.GatedResnet(4), GatedStudent(4), shape).equal
    c = kcompare(C.GatedResnet(4), GatedStudent(4, bug="no-residual"), shape)
    assert c.differences == ["add of the input and multiply is missing"], c.differences
    c = kcompare(C.GatedResnet(4), GatedStudent(4, bug="gate-on-f"), shape)
    assert not c.equal and len(c.differences) <= 2, c.differences
    # the contract fixes nnLayer_1 and nnLayer_2: compared on their own, and only their convolutions
    for scope in ("nnLayer_1", "nnLayer_2"):
        assert kcompare(C.GatedResnet(4), GatedStudent(4), shape, scope=scope, types=["conv2d"]).equal
    w = graph.canonical(ktrace(C.GatedResnet(4), shape), scope="nnLayer_2")
    assert [graph.describe(n) for n in w.body()] == ["Conv2d(8->8, k2, p(1,0,1,0))"]


def test_keras_weights_move_by_traced_order_not_by_path():
    x = kfw.example_input([2, 6, 6, 4], 0)
    kfw.seed(0)
    ref, student = ResAttrs(), ResList()
    kfw.prepare(ref, [x]), kfw.prepare(student, [x])
    kfw.fill_weights(ref, 1, scale=0.3)
    # by creation order the student's first conv (run second) would get the reference's first
    kfw.transfer_weights(ref, student)
    assert not np.allclose(kfw.predict(student, kfw.to_numpy(x)), kfw.predict(ref, kfw.to_numpy(x)), atol=1e-5)
    mapping = kfw.transfer_traced(ref, student, [x])
    assert mapping["conv1/vars/0"] == "convs/conv2d_1/vars/0" and mapping["conv2/vars/0"] == "convs/conv2d/vars/0"
    np.testing.assert_allclose(kfw.predict(student, kfw.to_numpy(x)), kfw.predict(ref, kfw.to_numpy(x)),
                               rtol=1e-5, atol=1e-5)
    gated, mine = C.GatedResnet(4), GatedStudent(4, activation=C.concat_elu)
    y = kfw.example_input([2, 5, 6, 4], 1)
    kfw.prepare(gated, [y]), kfw.prepare(mine, [y])
    kfw.transfer_traced(gated, mine, [y])
    np.testing.assert_allclose(kfw.predict(mine, kfw.to_numpy(y)), kfw.predict(gated, kfw.to_numpy(y)),
                               rtol=1e-5, atol=1e-5)
