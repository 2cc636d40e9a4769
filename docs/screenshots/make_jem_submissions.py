"""Three JEM submissions in the course's own style, run for real (short epochs) so that their
stored outputs are real: figures, training logs, printed accuracies. Written outside the repo."""
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell as code
from nbformat.v4 import new_markdown_cell as md

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from grader.notebooks import notebook_from_py  # noqa: E402

REF = (Path(__file__).resolve().parents[2] / "reference/jem-cifar10/solution.py").read_text()
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)


def base(text):
    text = re.sub(r"^\s*# (BEGIN|END) SOLUTION\n", "", text, flags=re.M)
    text = re.sub(r"^\s*# SKELETON:.*\n", "", text, flags=re.M)
    text = text.replace("EPOCHS_1 = 20 ", "EPOCHS_1 = 2  ").replace("EPOCHS_2 = 2 ", "EPOCHS_2 = 1 ")
    text = text.replace("train_batches, EPOCHS_1)", "train_batches, EPOCHS_1, max_steps=6)")
    text = text.replace("train_batches, EPOCHS_2, sb=sb)", "train_batches, EPOCHS_2, sb=sb, max_steps=3)")
    nb = notebook_from_py(text)
    for c in nb.cells:
        c.metadata.pop("tags", None)          # Colab drops them
    return nb


def find(nb, needle):
    return next(i for i, c in enumerate(nb.cells) if needle in c.source)


def insert_after(nb, needle, *cells):
    i = find(nb, needle)
    nb.cells[i + 1:i + 1] = list(cells)


MISCLASSIFIED = '''# [Q5] four misclassified test images
x_t, y_t = test_batches.x[:256], test_batches.y[:256]
pred = np.argmax(model1.predict(x_t, verbose=0), axis=1)
wrong = np.where(pred != y_t)[0][:4]
fig, axes = plt.subplots(1, 4, figsize=(8, 2.4))
for ax, i in zip(axes, wrong):
    ax.imshow(x_t[i]); ax.axis("off")
    ax.set_title(f"{CLASS_NAMES[y_t[i]]} -> {CLASS_NAMES[pred[i]]}", fontsize=8)
plt.show()'''

ENERGY = '''# [Q7] energy of a real, a noise and a grey image
imgs = np.stack([test_batches.x[0], np.random.rand(32, 32, 3).astype("float32"), np.full((32, 32, 3), .5, "float32")])
e_x = energy(model1, imgs).numpy()
e_xy = np.stack([energy(model1, imgs, np.full(3, c)).numpy() for c in range(NUM_CLASSES)], 1)
fig, axes = plt.subplots(1, 3, figsize=(9, 2.6))
for ax, im, t, row in zip(axes, imgs, ["real", "noise", "grey"], e_xy):
    ax.imshow(im); ax.axis("off"); ax.set_title(f"{t}: E(x)={e_x[list(axes).index(ax)]:.2f}", fontsize=8)
plt.show()
print("E(x, y) per class:\\n", np.round(e_xy, 2))'''

BUFFER = '''# [Q8] samples from the replay buffer with p_new = 0.5
sb8 = SampleBuffer((32, 32, 3), NUM_CLASSES, max_samples=100)
x8, y8 = sb8.sample_from_buffer(16, p_new=0.5) if hasattr(sb8, "sample_from_buffer") else (np.random.rand(16, 32, 32, 3), None)
fig, axes = plt.subplots(2, 8, figsize=(10, 2.8))
for ax, im in zip(axes.ravel(), np.asarray(x8)):
    ax.imshow(np.clip(im, 0, 1)); ax.axis("off")
plt.show()'''


def alice():
    nb = base(REF)
    nb.cells.insert(find(nb, "def show_samples") + 1, code("# [Q1]\nshow_samples(make_datasets(DATA_DIR)[0])"))
    insert_after(nb, "def part1_train_step",
                 md("### [Q3] Why add Gaussian noise?\n\nThe noise (sigma = 0.03) is a data augmentation: the "
                    "classifier sees slightly different images each epoch, which regularizes it, and JEM later "
                    "needs a model that behaves smoothly around the data for SGLD sampling."))
    insert_after(nb, "# [Q4]/[Q5] train WRN-16-4",
                 md("**[Q4]** The loss fell from the first epoch to the last (see the log above). I only had time "
                    "for 2 epochs of 6 steps on my laptop."),
                 code(MISCLASSIFIED),
                 md("**[Q5]** The test accuracy is low after such a short run; the misclassified images above "
                    "confuse animals with similar colours."))
    insert_after(nb, "# [Q6] the regularized model",
                 md("### [Q6] Comparison\n\nWith dropout the accuracy is about the same after two epochs; dropout "
                    "should help more with longer training because it reduces overfitting."))
    insert_after(nb, "def energy(model", code(ENERGY),
                 md("**[Q7]** The classifier gives the noise image a *lower* energy than the real one: a "
                    "classifier alone is not a good energy model."))
    insert_after(nb, "class SampleBuffer", code(BUFFER))
    insert_after(nb, "# [Q9]/[Q10] JEM training",
                 md("### [Q9] / [Q10]\n\nOne epoch of 3 steps: the loss is printed above. JEM's accuracy is lower "
                    "than Part 1's with the same training, as expected: half of each step goes to the energy term."))
    return nb


def bob():
    """Answers under headings instead of markers (unsure places), no Q7 at all."""
    nb = base(REF)
    nb.cells.insert(find(nb, "def show_samples") + 1, code("show_samples(make_datasets(DATA_DIR)[0], per_class=3)"))
    insert_after(nb, "# [Q4]/[Q5] train WRN-16-4", md("## Q5\n\nAccuracy printed above."))
    insert_after(nb, "# [Q9]/[Q10] JEM training", md("## Q5\n\n(also the JEM model's accuracy, see above)"))
    return nb


def carol():
    """The colab example's mutant (stride first in the block), answered with markers."""
    nb = base(REF)
    src = nb.cells[find(nb, "class ResBlock(")].source
    nb.cells[find(nb, "class ResBlock(")].source = src.replace(
        'self.conv1 = keras.layers.Conv2D(out_channels, 3, padding="same")',
        'self.conv1 = keras.layers.Conv2D(out_channels, 3, strides=2 if downsampling else 1, padding="same")', 1)
    nb.cells.insert(find(nb, "def show_samples") + 1, code("# [Q1] my samples\nshow_samples(make_datasets(DATA_DIR)[0], per_class=4)"))
    insert_after(nb, "# [Q4]/[Q5] train WRN-16-4", code(MISCLASSIFIED),
                 md("### [Q5]\nAccuracy above; the four images show a cat taken for a dog and similar mistakes."))
    return nb


for name, make in (("alice", alice), ("bob", bob), ("carol", carol)):
    nb = make()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, kernel_name="python3", timeout=900, allow_errors=True,
                   resources={"metadata": {"path": str(Path(__file__).resolve().parents[2] / "assignments/jem-cifar10")}}).execute()
    nbformat.write(nb, out / f"{name}.ipynb")
    errors = [(i, o.get("ename")) for i, c in enumerate(nb.cells) for o in c.get("outputs", []) if o.get("output_type") == "error"]
    print(name, "written", "errors:", errors, flush=True)
