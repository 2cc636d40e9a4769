"""The item locator on notebooks in the three marking styles the courses use."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell as code
from nbformat.v4 import new_markdown_cell as md
from nbformat.v4 import new_notebook

from grader import locate


def nb(*cells):
    n = new_notebook()
    n.cells = list(cells)
    return n


def tagged(cell, *tags):
    cell.metadata["tags"] = list(tags)
    return cell


# the HKUST 2023 course notebook: comment markers in the cells the student writes
COURSE = nb(
    md("## 4.3 Evaluation"),
    code("### [C8: Load the pretrained weights]\npixel_cnn.load_weights(path)"),
    code("### [C9: Qualitative Evaluation]\npixels = np.zeros((10, 32, 32, 1))\nfor i in range(32):\n    pass"),
    code("show(pixels)"),                                   # no marker: runs on from C9
    md("**[Q6]** Comment on the generated images."),
    md("They look like brush strokes."),
    code("### [C10: Quantitative Evaluation]\nbce = pixel_cnn.evaluate(test_ds)"),
    code("### [C11: Model training and log reporting]\npixel_cnn.compile(optimizer=opt, loss='bce')"),
    code("### [C11: Model training and log reporting]\nhistory = pixel_cnn.fit(train_ds, epochs=1)"),
)

# the HKUST 2025 notebook: markdown markers above the code, two markers on one comment line
JEM = nb(
    md("## Part 1\n\n### [C1] ResNet block\nLeakyReLU then conv."),
    code("class ResBlock: pass"),
    md("### [C2] WRN-16-4"),
    code("def WRN(num_classes=10): pass"),
    code("# [Q4]/[Q5] train WRN-16-4 and evaluate it\nhistory = train()"),
    md("### [Q5] Discussion\n\nAccuracy rose to 0.61."),
    md("### [C12+Q9] Bonus"),
    code("study()"),
)

# the UofT notebooks: numbered section headings, questions under parts
UOFT = nb(
    md("# Part A: Pooling and upsampling"),
    md("## 4.2 Training"),
    code("train(net)"),
    md("The horse is often the colour of the grass."),
    md("### 4.2.1 A sub-part still of 4.2"),
    md("## 4.21 Not this one"),
    md("# Part B: Transposed convolutions"),
    md("### Question 2"),
    md("Padding keeps the shapes."),
    md("# Part C"),
    md("### Question 2"),
    md("Another part's question 2."),
)

# Rosenbaum's exercise: question 3 answered inline under headings
MNIST = nb(
    md("# Question 3"),
    md("### (a) marginal of the first pixel"),
    code("probs = model(x)[0, :, 0, 0, 0].softmax(0)"),
    md("### (c) middle pixel given above and left"),
    code("cond = model(img)[0, :, 0, 14, 14].softmax(0)\nprint(cond.sum())"),
    code("# 3d: below and right, by sampling\nsamples = model.sample((64, 1, 28, 28))"),
    md("## Question 4"),
)


def test_course_markers_find_the_cells_the_student_wrote():
    f = locate.locate(COURSE, "C9")
    assert (f.style, f.certain, f.marked, f.cells) == ("marker", True, [2], [2, 3])
    c11 = locate.locate(COURSE, "C11")
    assert c11.marked == [7, 8] and c11.cells == [7, 8]
    assert locate.locate(COURSE, "C8").cells == [1]
    q6 = locate.locate(COURSE, "Q6")
    assert q6.cells == [4, 5] and locate.text_of(COURSE, q6) == "They look like brush strokes."
    assert not locate.locate(COURSE, "C1")


def test_markdown_markers_run_on_to_the_code_below():
    assert locate.locate(JEM, "C1").cells == [0, 1]
    assert locate.locate(JEM, "C2").cells == [2, 3]
    q4 = locate.locate(JEM, "Q4")
    assert q4.cells == [4] and q4.marked == [4]
    q5 = locate.locate(JEM, "Q5")
    assert q5.marked == [4, 5] and "0.61" in locate.text_of(JEM, q5)
    assert locate.locate(JEM, "Q9").cells == [6, 7] == locate.locate(JEM, "C12").cells
    assert locate.markers("### [C9: Qualitative Evaluation]\n# [Q4]/[Q5] x\n[C12+Q9]") == ["C9", "Q4", "Q5", "C12", "Q9"]
    assert locate.markers("x = a[3]\nprint([C9])") == []          # code that indexes is no marker


def test_section_headings_run_to_the_next_heading_of_their_level():
    f = locate.locate(UOFT, "4.2")
    assert (f.style, f.certain, f.marked) == ("heading", True, [1])
    assert f.cells == [1, 2, 3, 4]           # 4.2.1 is inside it; "4.21", a heading of its level, ends it
    assert "colour of the grass" in locate.text_of(UOFT, f)
    b2 = locate.locate(UOFT, "B2", labels=("Part B > Question 2",))
    assert b2.cells == [7, 8] and b2.certain and locate.text_of(UOFT, b2) == "Padding keeps the shapes."
    both = locate.locate(UOFT, "Q2", labels=("Question 2",))
    assert not both.certain and both.marked == [7, 10] and "2 headings" in both.note


def test_question_parts_under_a_question_heading_and_comment_headings():
    a = locate.locate(MNIST, "3a", labels=("Question 3 > (a)",))
    assert a.cells == [1, 2] and a.certain
    c = locate.locate(MNIST, "3c", labels=("3c", "Question 3 > (c)"))
    assert c.cells == [3, 4, 5]   # the comment-headed cell below has no markdown heading: it stays in (c)
    d = locate.locate(MNIST, "3d")
    assert (d.style, d.cells) == ("heading", [5])          # found by its first comment line
    assert not locate.locate(MNIST, "3b", labels=("Question 3 > (b)",))


def test_tags_come_first_and_other_styles_are_flagged_as_unsure():
    n = nb(tagged(code("x = 1"), "item-C10"), code("### [C10: Quantitative Evaluation]\ny = 2"),
           tagged(md("my answer"), "answer-Q1"))
    assert locate.locate(n, "C10").cells == [0]
    assert locate.locate(n, "C10", styles=("marker",)).cells == [1]
    q1 = locate.locate(n, "Q1", styles=("heading",))
    assert q1.cells == [2] and not q1.certain and "found by tag" in q1.note
    assert locate.locate(None, "Q1").note == "no notebook"


def test_py_percent_files_are_located_like_notebooks():
    from grader.notebooks import notebook_from_py
    n = notebook_from_py("# %% [markdown]\n# ### [C2] WRN\n\n# %%\ndef WRN():\n    pass\n")
    f = locate.locate(n, "C2")
    assert f.style == "marker" and any("def WRN" in n.cells[i].source for i in f.cells)
    assert isinstance(n, nbformat.NotebookNode)


def test_the_toml_names_the_style_and_labels():
    from grader.config import Item, Locate
    it = Item(id="B2", points=1, manual=True, locate=Locate(style=("heading",), labels=("Part B > Question 2",)))
    assert locate.item(UOFT, it).cells == [7, 8]
    assert locate.item(COURSE, Item(id="C9", points=5)).marked == [2]


# ---- as the marker's page uses it ---------------------------------------------------------------

# our colourization skeleton: one heading for three training items, the student's comments below
RUNS = nb(
    md("## 4.2, 5.2, 6.2 Training runs"),
    tagged(code("histories = train_all()"), "train", "answer-4.2", "answer-5.2", "answer-6.2"),
    md("### 4.2\n\nThe horse is often the colour of the grass."),
    md("### 4.2.1 More on 4.2"),
    md("### 5.3\n\nConvTransposeNet is a little worse."),
)


def test_a_heading_that_lists_several_items_names_each_and_yields_to_their_own():
    assert locate._names("4.2, 5.2, 6.2 Training runs", "5.2") and locate._names("4.2 and 6.2", "6.2")
    assert not locate._names("4.2, 5.2 Training runs", "5.3")
    f = locate.locate(RUNS, "4.2", ("heading",))
    # the shared heading and the item's own do not compete: certain; 4.2.1 is inside 4.2, 5.3 is not
    assert (f.cells, f.marked, f.certain) == ([0, 1, 2, 3], [0, 2], True)
    assert locate.locate(RUNS, "5.2", ("heading",)).cells == [0, 1]      # "### 4.2" starts another section
    assert locate.locate(RUNS, "5.3", ("heading",)).cells == [4]
    assert (locate.section("4.2.1 More"), locate.section("3(c) x"), locate.section("Question 2"),
            locate.section("Discussion")) == ("4.2.1", "3c", "2", None)


def test_every_style_the_toml_names_together_for_the_marker():
    first = locate.locate(RUNS, "5.2", ("tag", "heading"))
    assert (first.style, first.cells) == ("tag", [1])
    both = locate.locate(RUNS, "5.2", ("tag", "heading"), every=True)
    assert (both.style, both.cells, both.certain) == ("tag+heading", [0, 1], True)
    # a style the toml does not name is still the fallback, and said to be unsure
    other = locate.locate(RUNS, "5.3", ("tag",), every=True)
    assert other.cells == [4] and not other.certain and "not by the tag" in other.note


def test_a_markdown_heading_names_its_items_anywhere_on_its_line():
    n = nb(md("## 4.4 Evaluation\n### Generation [C9]: pixel by pixel"), code("def generate_images(): ..."),
           md("### Test binary cross-entropy [C10]"), code("x = a[3]  # [C9] in a comment, not at its start"))
    assert locate.markers(n.cells[0].source, markdown=True) == ["C9"]
    assert locate.markers(n.cells[3].source) == []
    assert locate.locate(n, "C9", ("marker",)).cells == [0, 1]
    assert locate.locate(n, "C10", ("marker",)).cells == [2, 3]


def test_answers_are_the_words_or_else_what_the_cells_printed():
    from nbformat.v4 import new_output

    from grader import answers
    from grader.config import Item, Locate
    log = code("# [Q4]/[Q5] train\nhistory = train_loop(model, 20)")
    log.outputs = [new_output("stream", name="stdout",
                              text="Epoch 1/20\n1/5 [==>..]\r5/5 [=====] - loss: 2.1\x1b[0m\nepoch 20: loss 0.41\n"),
                   new_output("stream", name="stderr", text="W0000 oneDNN custom operations are on\n"),
                   new_output("error", ename="KeyboardInterrupt", evalue="", traceback=["stopped"])]
    fig = code("# [Q7]\nplot_energy()")
    fig.outputs = [new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 640x480>"})]
    n = nb(log, md("### [Q5] Accuracy\n\nYOUR ANSWER HERE\n\n0.61 on the test set."), md("**[Q6]** Dropout: 0.63."), fig)
    q4 = Item(id="Q4", points=7, manual=True, locate=Locate(style=("marker",)))
    assert answers.extract(n, q4) == "Epoch 1/20\n5/5 [=====] - loss: 2.1\nepoch 20: loss 0.41"
    assert answers.extract(n, "Q5") == "0.61 on the test set."
    assert answers.extract(n, "Q6") == "Dropout: 0.63."                 # the words on the marker's own line
    assert answers.extract(n, "Q7") == "(1 figure in the notebook, cell 3)"         # not its "<Figure size ...>"
    assert answers.extract(n, "Q8") == "" and answers.extract(None, q4) == ""


def test_the_assignments_own_notebooks_answer_where_their_tomls_say():
    """Every manual item of the five assignments has a rule; on the notebooks in the courses'
    styles (examples, variants, our skeletons) the items they answer are found, certain."""
    from grader import assignment
    root = Path(__file__).resolve().parent.parent
    want = {
        ("colourization-cifar10", "assignments/colourization-cifar10/examples/colab-unet-without-skips.ipynb"):
            {"4.2": [15, 16, 17, 18], "5.2": [15, 16, 17], "5.3": [19], "6.2": [15, 16, 17], "6.3": [20]},
        ("colourization-cifar10", "tests/assignments/colourization-cifar10/variants/colab_functional_ops.ipynb"):
            {"4.2": [14], "5.3": []},
        ("colourization-cifar10", "assignments/colourization-cifar10/skeleton.ipynb"): {"6.2": [14, 15, 16]},
        ("denoising-autoencoder", "assignments/denoising-autoencoder/skeleton/asgn6.ipynb"):
            {"3c": [5, 6], "3d": [7], "3e": [8], "3f": [9]},
        ("denoising-autoencoder", "tests/assignments/denoising-autoencoder/variants/notebook_gelu_no_norm.ipynb"):
            {"3c": [9], "3d": [10], "3e": []},
        ("denoising-autoencoder", "assignments/denoising-autoencoder/examples/colab-no-batchnorm.ipynb"):
            {"3d": [5], "3e": [6]},
        ("jem-cifar10", "assignments/jem-cifar10/examples/colab-stride-first-sampling-ascent.ipynb"):
            {"Q1": [6], "Q4": [19], "Q5": [19], "Q6": [22], "Q9": [31], "Q10": [31], "Q3": []},
        ("pixelcnn-calligraphy", "assignments/pixelcnn-calligraphy/skeleton/autoregressive_model.ipynb"):
            {"P-C9": [25, 26], "P-C11": [30, 31], "Q6": [25, 26], "Q7": [28], "Q1": []},
        ("pixelcnn-calligraphy", "assignments/pixelcnn-calligraphy/examples/drmc-pads-right.ipynb"):
            {"P-C9": [18, 19], "P-C11": [22, 23]},
    }
    for slug, a in assignment.all_assignments().items():
        for it in a.items:
            if it.manual:
                assert it.locate.style != locate.STYLES or it.locate.labels, f"{slug} {it.id}: no [items.locate] rule"
    for (slug, path), items in want.items():
        a = assignment.get(slug)
        n = nbformat.read(root / path, as_version=4)
        for item_id, cells in items.items():
            f = locate.item(n, a.item(item_id), every=True)
            assert f.cells == cells, (path, item_id, f)
            assert f.certain or not cells, (path, item_id, f.note)


def test_a_bold_label_opening_a_paragraph_names_the_item():
    """`**(d)** text`: an answer that starts with its bold label, under the question's heading
    (a Rosenbaum submission's style); a bold word inside a sentence is not a heading."""
    n = nb(md("## Question 3"), md("### (c) given the past"), code("p_c = 1"),
           md("**(d)** The middle pixel given the pixels below and to the right: hard."), code("p_d = 2"),
           md("We use **importance sampling** here."), code("p_d2 = 3"), md("### (e) given the rest"), code("p_e = 4"))
    f = locate.locate(n, "3d", labels=("3d", "Question 3 > d"))
    assert (f.style, f.marked, f.cells) == ("heading", [3], [3, 4, 5, 6])
    assert locate.locate(n, "3c", labels=("3c", "Question 3 > c")).cells == [1, 2]


def test_comment_headings_end_at_the_next_sibling():
    """`# 3a) ...`, `# 3b) ...` as the first lines of code cells (a script in cells): each item
    is its own cell and what follows it up to the next label of the same form."""
    n = nb(code("import torch"), code("# 3a) first pixel\np = 1"), code("q = p + 1"), code("# 3b) middle pixel\nr = 2"),
           code("# 3c) given the past\ns = 3"))
    assert locate.locate(n, "3a").cells == [1, 2]
    assert locate.locate(n, "3b").cells == [3]
