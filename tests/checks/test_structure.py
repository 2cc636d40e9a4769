"""The `structure` check (traced computation) and the `equivalence` check's op-by-op weight
transfer, through the real probe Context, in-process (no kernel)."""
import importlib.util
import sys

import inprocess
import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT
from torch import nn

from grader import config
from grader.checks import Malformed, equivalence, structure

sys.path.insert(0, str(ROOT / "reference" / "colourization-cifar10"))
from solution_loader import load_solution  # noqa: E402

S = load_solution(str(ROOT / "reference" / "colourization-cifar10" / "solution.py"))
_spec = importlib.util.spec_from_file_location("denoising_models", ROOT / "reference" / "denoising-autoencoder" / "models.py")
D = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(D)


def run(kind, o, student, reference, framework="torch"):
    """observe() for the student's and the reference's definitions (as the pipeline runs both:
    the reference's run first, whose recorded weights the grader pairs the student's model with)."""
    return inprocess.pair(kind.KIND, o, student, reference, framework)


def judged(o, j, student, reference):
    got, want = run(structure, o, student, reference)
    return structure.judge(o, j, got, want)


# ---- colourization: no names fixed, the whole computation ---------------------------------------------

class Pool(nn.Module):
    """PoolUpsampleNet with other names, created backwards, one shared ReLU and MaxPool2d, F.interpolate."""

    def __init__(self, kernel, num_filters, num_colours, num_in_channels, bug=""):
        super().__init__()
        NF, NC, p = num_filters, num_colours, kernel // 2
        self.last = nn.Conv2d(NC, NC, kernel, padding=p)
        self.convs = nn.ModuleList([nn.Conv2d(a, b, kernel, padding=p) for a, b in
                                    [(num_in_channels, NF), (NF, 2 * NF), (2 * NF, NF), (NF, NC)]])
        self.norms = nn.ModuleList([nn.BatchNorm2d(c) for c in (NF, 2 * NF, NF, NC)])
        self.relu, self.pool = nn.ReLU(), nn.MaxPool2d(2)
        self.bug = bug

    def forward(self, x):
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = conv(x)
            x = self.pool(x) if i < 2 else F.interpolate(x, scale_factor=2)
            x = x if self.bug == "no-norm" and i == 1 else norm(x)
            x = self.relu(x)
        return self.last(x)


INIT = {"kernel": 3, "num_filters": 8, "num_colours": 24, "num_in_channels": 1}
INPUTS = [[2, 1, 32, 32]]


def test_colourization_rewrite_earns_every_aspect():
    o = structure.Observe(target="PoolUpsampleNet", init=INIT, inputs=INPUTS)
    for aspect in ("graph", "shapes", "params"):
        v = judged(o, structure.Judge(aspect=aspect), {"PoolUpsampleNet": Pool}, {"PoolUpsampleNet": S.PoolUpsampleNet})
        assert v.fraction == 1.0 and v.message == "", (aspect, v.message)


def test_colourization_mutant_loses_a_share_per_difference():
    o = structure.Observe(target="PoolUpsampleNet", init=INIT, inputs=INPUTS)
    bad = {"PoolUpsampleNet": lambda **kw: Pool(**kw, bug="no-norm")}
    ref = {"PoolUpsampleNet": S.PoolUpsampleNet}
    v = judged(o, structure.Judge(penalty=0.25), bad, ref)
    assert v.fraction == 0.75 and v.message == "BatchNorm(16) after MaxPool2d(2) is missing"
    v = judged(o, structure.Judge(aspect="params"), bad, ref)
    assert v.fraction == 0.0 and "parameters in all" in v.message
    # the shapes do not change
    assert judged(o, structure.Judge(aspect="shapes"), bad, ref).fraction == 1.0


# ---- denoising: names the contract fixes, and only the convolutions of 2b -------------------------------

class EncoderOwnModules(nn.Module):
    """hidden_layer a module of the student's own with a functional ReLU; torch.flatten."""

    class Hidden(nn.Module):
        def __init__(self, n_in, z):
            super().__init__()
            self.fc, self.bn = nn.Linear(n_in, z), nn.BatchNorm1d(z)

        def forward(self, x):
            return F.relu(self.bn(self.fc(x)))

    def __init__(self, z_dim=64, img_size=64, relu_outside=False, relu_output=False):
        super().__init__()
        self.output_layer = nn.Sequential(nn.Linear(z_dim, z_dim), nn.ReLU() if relu_output else nn.Tanh())
        if relu_outside:
            self.hidden_layer = nn.Sequential(nn.Linear(3 * img_size * img_size, z_dim), nn.BatchNorm1d(z_dim))
        else:
            self.hidden_layer = self.Hidden(3 * img_size * img_size, z_dim)
        self.relu_outside = relu_outside

    def forward(self, x):
        h = self.hidden_layer(torch.flatten(x, 1))
        return self.output_layer(F.relu(h) if self.relu_outside else h)


ENC = structure.Observe(target="Encoder", init={"z_dim": 16}, inputs=[[4, 3, 64, 64]],
                        attrs=["hidden_layer", "output_layer"])
ENC_J = structure.Judge(fields=["in", "out", "features"])


def test_encoder_scopes_are_the_contracts_names():
    ref = {"Encoder": D.Encoder}
    assert judged(ENC, ENC_J, {"Encoder": EncoderOwnModules}, ref).fraction == 1.0
    # the contract puts the ReLU inside hidden_layer
    v = judged(ENC, ENC_J, {"Encoder": lambda **kw: EncoderOwnModules(**kw, relu_outside=True)}, ref)
    assert v.fraction == 0.5 and v.message == "hidden_layer: ReLU after BatchNorm(16) is missing", v.message
    v = judged(ENC, ENC_J, {"Encoder": lambda **kw: EncoderOwnModules(**kw, relu_output=True)}, ref)
    assert v.fraction == 0.5 and v.message == "output_layer: expected Tanh after Linear(16->16), found ReLU", v.message


class DecoderLeaky(nn.Module):
    """LeakyReLU, no BatchNorm, its own block helper; `bug` changes layer 2's stride or drops layer 5."""

    def __init__(self, z_dim=64, img_size=64, bug=""):
        super().__init__()
        self.z_dim, self.bug = z_dim, bug

        def block(a, b, k, s):
            return nn.Sequential(nn.ConvTranspose2d(a, b, k, stride=s), nn.LeakyReLU(0.2), nn.Conv2d(b, b, 3, padding=1),
                                 nn.LeakyReLU(0.2))
        self.layer1 = block(z_dim, 128, 7, 1)
        self.layer2 = block(128, 64, 3, 1 if bug == "stride" else 2)
        self.layer3 = block(64, 64, 3, 2)
        self.layer4 = block(64, 32, 3, 2)
        self.layer5 = nn.Sequential(nn.ConvTranspose2d(32, 32, 2), nn.Conv2d(32, 3, 1), nn.Sigmoid())

    def forward(self, z):
        x = z.view(-1, self.z_dim, 1, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x if self.bug == "skip5" else self.layer5(x)


DEC = structure.Observe(target="Decoder", init={"z_dim": 16}, inputs=[[2, 16]],
                        attrs=["layer1", "layer2", "layer3", "layer4", "layer5"])
DEC_J = structure.Judge(types=["conv_transpose2d", "conv2d"], fields=["out", "kernel", "stride", "padding"])


def test_decoder_only_the_convolutions_count():
    ref = {"Decoder": D.Decoder}
    assert judged(DEC, DEC_J, {"Decoder": DecoderLeaky}, ref).fraction == 1.0
    v = judged(DEC, DEC_J, {"Decoder": lambda **kw: DecoderLeaky(**kw, bug="stride")}, ref)
    assert v.fraction == pytest.approx(0.8)
    assert v.message == "layer2: expected ConvTranspose2d(128->64, k3, s2) first, found " \
                        "ConvTranspose2d(128->64, k3)", v.message
    v = judged(DEC, DEC_J, {"Decoder": lambda **kw: DecoderLeaky(**kw, bug="skip5")}, ref)
    assert v.fraction == pytest.approx(0.8) and v.message == "layer5: nothing ran inside `layer5`"
    # all ops: the activations then differ
    assert judged(DEC, structure.Judge(), {"Decoder": DecoderLeaky}, ref).fraction == 0.0


# ---- untrusted observations, authoring errors, the listing form -------------------------------------------

def test_malformed_observations_score_nothing():
    want = run(structure, ENC, {"Encoder": D.Encoder}, {"Encoder": D.Encoder})[1]
    for bad in (None, [], {"nodes": "x"}, {"nodes": [{"id": 0, "op": "output", "in": [3]}]}):
        with pytest.raises(Malformed):
            structure.judge(ENC, ENC_J, bad, want)


def test_unknown_op_kinds_and_fields_are_authoring_errors():
    with pytest.raises(ValueError, match="unknown op 'Conv2d'"):
        structure.validate(DEC, structure.Judge(types=["Conv2d"]))
    with pytest.raises(ValueError, match="unknown hyper-parameter 'kernel_size'"):
        structure.validate(DEC, structure.Judge(fields=["kernel_size"]))
    with pytest.raises(ValueError, match="needs `inputs`"):
        structure.validate(structure.Observe(target="M"), structure.Judge(aspect="shapes"))
    raw = {"slug": "x", "framework": "torch", "reference": "r.py", "skeleton": "s", "items": [
        {"id": "1", "points": 1, "checks": [{"kind": "structure", "target": "M", "inputs": [[1, 2]],
                                             "types": ["Linear"]}]}]}
    with pytest.raises(config.ConfigError, match="unknown op 'Linear'"):
        config.parse(raw)


def test_without_inputs_the_leaf_layers_are_listed():
    o = structure.Observe(target="Encoder", init={"z_dim": 16}, attrs=["hidden_layer"])
    got, want = run(structure, o, {"Encoder": D.Encoder}, {"Encoder": D.Encoder})
    assert [l["type"] for l in want["hidden_layer"]] == ["Linear", "BatchNorm1d", "ReLU"]
    assert structure.judge(o, structure.Judge(), got, want).fraction == 1.0


# ---- equivalence: weights paired as the ops run ------------------------------------------------------------

class UNetBackwards(nn.Module):
    """UNet created backwards under other names, cats in the other order."""

    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        NF, NC, NIC = num_filters, num_colours, num_in_channels
        self.head = nn.Conv2d(NC + NIC, NC, kernel, padding=1)
        self.u2 = nn.Sequential(nn.ConvTranspose2d(2 * NF, NC, kernel, 2, 1, 1), nn.BatchNorm2d(NC))
        self.u1 = nn.Sequential(nn.ConvTranspose2d(2 * NF, NF, kernel, 2, 1, 1), nn.BatchNorm2d(NF))
        self.d2 = nn.Sequential(nn.Conv2d(NF, 2 * NF, kernel, 2, 1), nn.BatchNorm2d(2 * NF))
        self.d1 = nn.Sequential(nn.Conv2d(NIC, NF, kernel, 2, 1), nn.BatchNorm2d(NF))

    def forward(self, x):
        a = F.relu(self.d1(x))
        b = self.u1(F.relu(self.d2(a))).relu()
        c = F.relu(self.u2(torch.cat([a, b], 1)))
        return self.head(torch.cat([x, c], 1))


def test_equivalence_pairs_weights_as_the_ops_run_and_tries_both_cat_orders():
    o = equivalence.Observe(target="UNet", init={"kernel": 3, "num_filters": 4, "num_colours": 5, "num_in_channels": 1},
                            inputs=[{"shape": [2, 1, 32, 32], "low": 0.0, "high": 1.0}],
                            permutations=[{"weight": "upconv2.0.weight", "splits": [4, 4]},
                                          {"weight": "finalconv.weight", "splits": [5, 1]}])
    got, want = run(equivalence, o, {"UNet": UNetBackwards}, {"UNet": S.UNet})
    assert equivalence.judge(o, equivalence.Judge(), got, want).fraction == 1.0
    # by name, else by creation order, the same student cannot be paired (the grader says why)
    by_name = o.model_copy(update={"transfer": "name"})
    got, _ = run(equivalence, by_name, {"UNet": UNetBackwards}, {"UNet": S.UNet})
    assert "cannot pair" in got["error"]["message"]


def test_keras_equivalence_through_the_context():
    keras = pytest.importorskip("keras")
    import tensorflow as tf
    C = load_solution(str(ROOT / "reference" / "pixelcnn-calligraphy" / "solution.py"))

    class GatedResnet(keras.layers.Layer):    # created the other way round, gate by slicing
        def __init__(self, num_filters, activation=C.concat_elu, **kw):
            super().__init__(**kw)
            self.nnLayer_2 = C.DownRightMovedConv2d(num_filters * 2)
            self.nnLayer_1 = C.DownRightMovedConv2d(num_filters)
            self.nonlinearity, self.n = activation, num_filters

        def call(self, x):
            h = self.nnLayer_2(self.nonlinearity(self.nnLayer_1(self.nonlinearity(x))))
            return x + h[..., :self.n] * tf.sigmoid(h[..., self.n:])

    o = equivalence.Observe(target="GatedResnet", init={"num_filters": 4}, inputs=[[2, 5, 6, 4]])
    got, want = run(equivalence, o, {"GatedResnet": GatedResnet}, {"GatedResnet": C.GatedResnet}, "keras")
    assert equivalence.judge(o, equivalence.Judge(), got, want).fraction == 1.0
    so = structure.Observe(target="GatedResnet", init={"num_filters": 4}, inputs=[[2, 5, 6, 4]],
                           attrs=["", "nnLayer_1", "nnLayer_2"])
    got, want = run(structure, so, {"GatedResnet": GatedResnet}, {"GatedResnet": C.GatedResnet}, "keras")
    assert structure.judge(so, structure.Judge(), got, want).fraction == 1.0
