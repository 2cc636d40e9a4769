"""The item locator on notebooks in the three marking styles the courses use."""
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
