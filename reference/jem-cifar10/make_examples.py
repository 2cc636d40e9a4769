"""Writes the two buggy demo submissions of jem-cifar10 into assignments/jem-cifar10/examples/.

    python reference/jem-cifar10/make_examples.py

- `colab-stride-first-sampling-ascent.ipynb`: a Colab-style notebook (a google.colab cell
  first) whose ResBlock strides on the first convolution (C1) and whose sampling_step adds
  the gradient instead of subtracting it (C7);
- `zip-lifo-conditional-energy.zip`: `code.zip` as the handout asks (notebook + a note),
  whose SampleBuffer evicts the newest samples (C8) and whose part2_train_step uses the
  conditional energy of the real data (C9).
Deterministic: no randomness, fixed zip timestamps."""
import os
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, ROOT)
from grader.notebooks import as_colab, notebook_from_py, notebook_text  # noqa: E402 - the public authoring API

OUT = os.path.join(ROOT, "assignments", "jem-cifar10", "examples")


def mutate(text, old, new):
    assert text.count(old) == 1, old
    return text.replace(old, new)


def notebook(text, colab=False):
    nb = notebook_from_py(text)
    if colab:
        as_colab(nb, strip_tags=False)
    return notebook_text(nb)


def main():
    src = open(os.path.join(HERE, "solution.py")).read()
    os.makedirs(OUT, exist_ok=True)

    a = mutate(src, '''        self.conv1 = keras.layers.Conv2D(out_channels, 3, padding="same")
        self.act2 = keras.layers.LeakyReLU()
        self.conv2 = keras.layers.Conv2D(out_channels, 3, strides=stride, padding="same")''',
               '''        self.conv1 = keras.layers.Conv2D(out_channels, 3, strides=stride, padding="same")
        self.act2 = keras.layers.LeakyReLU()
        self.conv2 = keras.layers.Conv2D(out_channels, 3, padding="same")''')
    a = mutate(a, "data = data - step_size * grad", "data = data + step_size * grad")
    with open(os.path.join(OUT, "colab-stride-first-sampling-ascent.ipynb"), "w") as f:
        f.write(notebook(a, colab=True))

    b = mutate(src, "del self.buffer[:excess]", "del self.buffer[-excess:]")
    b = mutate(b, "e_real = -tf.reduce_logsumexp(logits, axis=-1)",
               "e_real = -tf.gather(logits, label, axis=1, batch_dims=1)")
    path = os.path.join(OUT, "zip-lifo-conditional-energy.zip")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in (("code/pa2.ipynb", notebook(b)),
                           ("code/README.txt", "PA2 submission: the notebook has every training run's output.\n")):
            info = zipfile.ZipInfo(name, date_time=(2025, 4, 11, 23, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
