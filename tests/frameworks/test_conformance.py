"""Both framework adapters implement the one declared interface (grader/frameworks/base.py),
with the same meanings: the same small model, written once per framework, gives the same
answers through either adapter."""
import importlib
import inspect

import numpy as np
import pytest

from grader.frameworks.base import Framework

ADAPTERS = ["torch", "keras"]
MEMBERS = [n for n, v in vars(Framework).items() if callable(v) and not n.startswith("_")]


def adapter(name):
    return importlib.import_module(f"grader.frameworks.{name}")


@pytest.mark.parametrize("name", ADAPTERS)
def test_every_function_of_the_interface_is_there_with_its_arguments(name):
    fw = adapter(name)
    assert isinstance(fw, Framework) and fw.NAME == name
    for member in MEMBERS:
        want = [p for p in inspect.signature(getattr(Framework, member)).parameters if p != "self"]
        got = list(inspect.signature(getattr(fw, member)).parameters)
        assert got == want, f"{name}.{member}{tuple(got)} differs from the interface {tuple(want)}"


def shift_model(name):
    """y[h, w] = x[h, w - 1] (0 at w = 0): a padded 1x2 convolution with fixed weights."""
    if name == "torch":
        import torch
        from torch import nn

        class Shift(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 1, (1, 2), bias=False)
                with torch.no_grad():
                    self.conv.weight.copy_(torch.tensor([[[[1.0, 0.0]]]]))

            def forward(self, x):
                return self.conv(nn.functional.pad(x.float(), (1, 0, 0, 0)))
        return Shift
    import keras
    from keras import ops

    class Shift(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(1, (1, 2), use_bias=False,
                                            kernel_initializer=keras.initializers.Constant([[[[1.0]], [[0.0]]]]))

        def call(self, x):
            return self.conv(ops.pad(ops.cast(x, "float32"), [[0, 0], [0, 0], [1, 0], [0, 0]]))
    return Shift


def image(name, x):
    """An (H, W) array as a batch of one in the framework's layout."""
    return x[None, None] if name == "torch" else x[None, ..., None]


@pytest.mark.parametrize("name", ADAPTERS)
def test_the_same_model_gives_the_same_answers(name):
    fw = adapter(name)
    fw.seed(0)
    model = fw.build(shift_model(name))
    x = fw.example_input({"shape": list(image(name, np.zeros((5, 6))).shape), "low": 0.0, "high": 1.0}, 3)
    assert fw.image_size(fw.shape_of(x)) == (5, 6)
    fw.prepare(model, [x])
    out, seen = fw.forward_with_hooks(model, [x], ["conv", "missing"])
    assert seen["missing"] is None and seen["conv"] is not None
    xs = fw.to_numpy(x).reshape(5, 6)
    ys = fw.to_numpy(out).reshape(5, 6)
    assert np.allclose(ys[:, 1:], xs[:, :-1]) and np.allclose(ys[:, 0], 0)
    assert np.allclose(fw.predict(model, fw.to_numpy(x)).reshape(5, 6), ys)
    assert fw.param_count(model, [x]) == 2 and fw.param_count(model, [x], types=["conv2d"]) == 2
    assert fw.param_count(model, [x], types=["linear"]) == 0 and fw.param_count(model, [x], by="gradient") == 2
    assert [l["type"].lower() for l in fw.layers(model)] == ["conv2d"]
    # dependence: output (h, w) depends on input (h, w - 1) only, by gradients and by perturbation
    positions = [(2, 3), (4, 0)]
    grads = fw.input_gradients(model, x, positions)
    assert grads.shape == (2, 5, 6)
    assert np.argwhere(grads[0]).tolist() == [[2, 2]] and not grads[1].any()
    pert = fw.perturbation_dependence(model, x, [(2, 2), (2, 3), (4, 0)], positions)
    assert pert.tolist() == [[True, False], [False, False], [False, False]]
    og = fw.output_gradients(model, fw.to_numpy(x), positions)
    assert og.shape == (2, *fw.shape_of(x)[1:]) and np.abs(og[0]).sum() == pytest.approx(1.0)


@pytest.mark.parametrize("name", ADAPTERS)
def test_weights_move_between_models_and_files(name, tmp_path):
    fw = adapter(name)
    a, b = fw.build(shift_model(name)), fw.build(shift_model(name))
    x = fw.example_input(list(image(name, np.zeros((3, 4))).shape), 0)
    fw.prepare(a, [x]), fw.prepare(b, [x])
    fw.fill_weights(a, seed_=1, scale=0.5)
    fw.transfer_weights(a, b)
    assert all(np.allclose(v, fw.weight_arrays(b)[k]) for k, v in fw.weight_arrays(a).items())
    names = list(fw.weight_arrays(b))
    fw.set_weights(b, {names[0]: np.zeros_like(fw.weight_arrays(b)[names[0]])})
    assert not fw.weight_arrays(b)[names[0]].any()
    with pytest.raises(KeyError):
        fw.set_weights(b, {"nope": np.zeros(1)})
    fw.randomize_state(b, 0)
    if name == "torch":
        import torch
        path = tmp_path / "w.pt"
        torch.save(a.state_dict(), path)
    else:
        path = tmp_path / "w.weights.h5"
        a.save_weights(str(path))
    fw.load_weights(b, path)
    assert np.allclose(fw.predict(a, fw.to_numpy(x)), fw.predict(b, fw.to_numpy(x)))


@pytest.mark.parametrize("name", ADAPTERS)
def test_plain_and_optimizer_config(name):
    fw = adapter(name)
    assert fw.plain({"a": (1, 2), "b": np.int64(3)}) == {"a": [1, 2], "b": 3}
    assert fw.shape_of(None) is None
    if name == "torch":
        import torch
        opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-4, betas=(0.95, 0.9995), eps=1e-6)
        cfg = fw.optimizer_config(opt)
        assert cfg["class_name"] == "Adam" and cfg["lr"] == 1e-4 and cfg["betas"] == [0.95, 0.9995]
    else:
        import keras
        cfg = fw.optimizer_config(keras.optimizers.Adam(learning_rate=1e-4, beta_1=0.95))
        assert cfg["class_name"] == "Adam" and cfg["learning_rate"] == pytest.approx(1e-4) and cfg["beta_1"] == 0.95
    with pytest.raises(TypeError):
        fw.optimizer_config("sgd")
