"""The Keras adapter on tiny models, in-process (no kernel)."""
import numpy as np
import pytest

keras = pytest.importorskip("keras")
from grader.frameworks import keras as fw  # noqa: E402


class Block(keras.layers.Layer):
    def __init__(self, units=3, **kw):
        super().__init__(**kw)
        self.first = keras.layers.Dense(units)
        self.items = [keras.layers.Dense(units), keras.layers.Dense(units, use_bias=False)]

    def call(self, x):
        x = self.first(x)
        for layer in self.items:
            x = layer(x)
        return x


def test_build_forward_hooks_shapes_and_counts():
    fw.seed(0)
    m = fw.build(Block, {"units": 4})
    x = fw.example_input([2, 5])
    out, seen = fw.forward_with_hooks(m, [x], ["first", "items.1", "missing"])
    assert fw.shape_of(out) == [2, 4]
    assert seen["first"] is not None and fw.shape_of(seen["items.1"]) == [2, 4] and seen["missing"] is None
    assert fw.param_count(m, [x]) == (5 * 4 + 4) + (4 * 4 + 4) + 4 * 4
    assert fw.param_count(m, [x], types=["linear"]) == fw.param_count(m, [x])
    assert [l["type"] for l in fw.layers(m)] == ["Dense", "Dense", "Dense"]
    assert fw.layers(m)[2]["config"]["use_bias"] is False
    assert fw.submodule(m, "items.0") is m.items[0]
    with pytest.raises(AttributeError):
        fw.submodule(m, "nope")
    # the wrapper is removed after the pass
    assert "call" not in vars(m.first)


class Padded(Block):
    """A block that also registers weights it never uses, in a layer named like a Dense."""

    def __init__(self, units=3, **kw):
        super().__init__(units, **kw)
        self.unused = keras.layers.Dense(1000)

    def build(self, shape):
        self.unused.build((None, 50))
        self.spare = self.add_weight(shape=(777,), initializer="zeros")


def test_parameters_that_take_no_part_are_not_counted():
    x = fw.example_input([2, 5])
    honest, padded = fw.build(Block, {"units": 4}), fw.build(Padded, {"units": 4})
    want = (5 * 4 + 4) + (4 * 4 + 4) + 4 * 4
    assert fw.param_count(padded, [x]) == fw.param_count(honest, [x]) == want
    assert fw.param_count(padded, [x], by="gradient") == want
    assert len(padded.trainable_weights) > len(honest.trainable_weights)


def test_seed_makes_initialisation_repeatable():
    outs = []
    for _ in range(2):
        fw.seed(3)
        m = fw.build(Block)
        outs.append(fw.to_numpy(fw.forward_with_hooks(m, [fw.example_input([1, 2])])[0]))
    np.testing.assert_array_equal(*outs)


def test_weights_by_attribute_path_and_transfer():
    a, b = fw.build(Block), fw.build(Block)
    x = fw.example_input([2, 5])
    for m in (a, b):
        fw.prepare(m, [x])
    names = sorted(fw.weight_arrays(a))
    assert names == ["first/vars/0", "first/vars/1", "items/dense/vars/0", "items/dense/vars/1", "items/dense_1/vars/0"]
    mapping = fw.transfer_weights(a, b)
    assert mapping == {n: n for n in names}
    np.testing.assert_allclose(fw.to_numpy(a(x)), fw.to_numpy(b(x)))
    c = fw.build(Block, {"units": 2})
    fw.prepare(c, [x])
    with pytest.raises(ValueError):
        fw.transfer_weights(a, c)


def test_fill_weights_depends_only_on_paths():
    x = fw.example_input([2, 5])
    a, b = fw.build(Block), fw.build(Block)
    fw.prepare(a, [x]), fw.prepare(b, [x])
    fw.fill_weights(a, 1), fw.fill_weights(b, 1)
    np.testing.assert_array_equal(fw.to_numpy(a(x)), fw.to_numpy(b(x)))


def test_plain_and_optimizer_config():
    assert fw.plain({"a": np.float32(1.5), "b": (1, 2), "c": np.arange(2)}) == {"a": 1.5, "b": [1, 2], "c": [0, 1]}
    cfg = fw.optimizer_config(keras.optimizers.Adam(learning_rate=1e-3, use_ema=True))
    assert cfg["class_name"] == "Adam" and cfg["use_ema"] is True and abs(cfg["learning_rate"] - 1e-3) < 1e-9
    with pytest.raises(TypeError):
        fw.optimizer_config("adam")
