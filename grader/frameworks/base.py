"""The framework adapter's interface: every function a check or a probe helper calls on
`ctx.fw`. Each framework (grader/frameworks/<name>.py) is one module implementing all of it,
with the same names, arguments and meanings, so that no check branches on the framework.
tests/frameworks/test_conformance.py holds both adapters to it."""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Framework(Protocol):
    NAME: str

    # ---- placement and randomness ---------------------------------------------------------
    def device(self) -> Any:
        """The grading device (GRADER_DEVICE=cuda and a GPU present, else the CPU)."""

    def seed(self, n: int) -> None:
        """Seed Python's, numpy's and the framework's generators."""

    # ---- building and running ---------------------------------------------------------------
    def build(self, definition, init: dict | None = None):
        """Instantiate a class (or call a factory) with keyword arguments; the result must be
        the framework's module/layer type. Placed on the grading device."""

    def prepare(self, model, inputs: list) -> None:
        """Make the model's weights exist (lazy layers are built by calling them once)."""

    def example_input(self, spec, seed_: int = 0):
        """A seeded input tensor from a spec: a shape list (standard normal floats), or
        {"shape", "dtype": "float"|"long"|"int", "low", "high"}."""

    def image_size(self, shape: list[int]) -> tuple[int, int]:
        """(H, W) of an image batch shape in the framework's layout."""

    def forward_with_hooks(self, model, inputs: list, names=()) -> tuple[Any, dict]:
        """Inference-mode forward pass; the output and the outputs of the named sub-modules."""

    def predict(self, model, x: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Inference-mode outputs of a numpy batch, as numpy, in batches."""

    def submodule(self, model, name: str):
        """A sub-module by dotted attribute path (integers index lists)."""

    # ---- looking at values ---------------------------------------------------------------------
    def checked(self, x, what: str = "the value"):
        """`x` itself when it is exactly the framework's tensor (or variable), a numpy array or
        a number, or a list/tuple of those, with nothing intercepting the framework's arithmetic
        (a torch function or dispatch mode); else grader.frameworks.NotPlain. Every value that
        comes out of student code passes here (or through to_numpy) before it is measured."""

    def looks_plain(self, x) -> bool:
        """Whether `x` claims to be a measurement: an instance (subclasses included) of the
        framework's tensor, numpy's array or scalars or a number, or a list/tuple holding one.
        A helper that takes the values it can measure out of many (what inline cells leave)
        leaves out the others, and treats a refusal of one that looks plain as NotPlain."""

    def shape_of(self, x) -> list | None:
        """A plain tensor's (or a nested tuple's) shape as lists of ints; None for None."""

    def to_numpy(self, x) -> np.ndarray:
        """A plain tensor (on any device) or array-like as a numpy array (checked)."""

    def as_tensor(self, x):
        """An array-like as the framework's tensor on the grading device."""

    def plain(self, value):
        """Answers and configs as JSON-able Python: tensors, sizes and tuples become lists."""

    # ---- parameters and structure ------------------------------------------------------------
    def param_count(self, model, inputs: list, types=None, scope=None, trainable: bool = True,
                    by: str = "trace") -> int:
        """The parameters that take part in one traced forward pass on `inputs` (each once):
        all, those of the ops of kinds `types` (grader.graph names), or those used inside
        `scope` (an attribute path); trainable only unless `trainable` is False. `by =
        "gradient"`: the trainable ones the outputs' gradient reaches (one forward and backward
        pass, cheaper than a trace)."""

    def layers(self, module) -> list[dict]:
        """Leaf layers in creation order: {"type", "config"} with their hyper-parameters."""

    def trace(self, model, inputs: list) -> list[dict]:
        """One inference-mode forward pass as graph nodes (grader/graph.py): every op on data
        in the order it ran, with its canonical name, hyper-parameters, the nodes it reads,
        the sub-modules it ran in (attribute paths), its output shape and the weights it used;
        plain JSON data."""

    # ---- weights -------------------------------------------------------------------------------
    def weight_arrays(self, model) -> dict[str, np.ndarray]:
        """Every weight by a stable name, as numpy."""

    def set_weights(self, model, values: dict) -> None:
        """Assign weights by the names weight_arrays gives; an unknown name is an error."""

    def fill_weights(self, model, seed_: int = 0, scale: float = 0.1, he: bool = False) -> None:
        """Deterministic weights depending only on each weight's name and shape: N(0, scale^2),
        or He-scaled kernels and small biases (`he`)."""

    def randomize_state(self, model, seed_: int = 0) -> None:
        """Seeded non-trivial normalisation statistics and affine parameters."""

    def transfer_weights(self, src, dst) -> dict[str, str]:
        """Copy every weight of src into dst (see each adapter); {src name: dst name}."""

    def transfer_traced(self, src, dst, inputs: list) -> dict[str, str]:
        """Copy src's weights into dst op by op: both traced on `inputs`, their parameterised
        ops paired in the order they ran by kind and weight shapes (grader.graph.pair_weights),
        whatever the names; {src name: dst name} in weight_arrays' naming."""

    def permute_input_channels(self, model, name: str, splits: list[int], order: list[int]) -> None:
        """Reorder blocks of one weight's input channels (for a concatenation of free order)."""

    def load_weights(self, model, path) -> None:
        """Load weights from a file in the framework's own format."""

    def optimizer_config(self, opt) -> dict:
        """An optimizer's class name and configuration as plain data."""

    # ---- dependence ------------------------------------------------------------------------------
    def input_gradients(self, model, x, positions) -> np.ndarray | None:
        """Per output position (h, w): a bool (H, W) mask of the input positions with a
        non-zero gradient; None where no gradient reaches the input."""

    def output_gradients(self, model, x, positions) -> np.ndarray:
        """Per output position (h, w) of image 0: the gradient of that output (summed over
        channels) with respect to the input, (P, *x.shape[1:])."""

    def perturbation_dependence(self, model, x, pixels, positions, chunk: int = 64) -> np.ndarray:
        """Black-box dependence: (K, P) bool, whether changing input pixel k changes output p."""
