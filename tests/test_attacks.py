"""The project's own attack suite (the cases: tests/attacks.py): hostile submissions graded
through the real pipeline inside each assignment's session batch, among honest submissions.
Each test asserts that no item goes above its honest value (the same submission without the
attack), that the grader survived (every result is there) and that the next, correct
submission in the same batch (the first student-style variant, graded after the attacks) is
graded normally."""
import ast
import json
from pathlib import Path

import pytest
from attacks import ATTACKS, EARLIER_OUTPUT, EXTRA_BASES, PTH, READ_DESCRIPTORS, UNPRIVILEGED, base_text
from conftest import grade_all, graded, variants

from grader.result import Status
from grader.run import sandbox, zygote

pytestmark = pytest.mark.slow


def outputs(out: Path, name: str) -> str:
    """What a submission's cells printed (not their source); `name` is its output folder."""
    nb = json.loads((out / name / "executed.ipynb").read_text())
    texts = [o.get("text", "") for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "stream"]
    return "".join("".join(t) if isinstance(t, list) else t for t in texts)


def _honest(name: str, tmp_path_factory):
    """(assignment, honest result, attacked result, the next correct one, output folder)."""
    slug, base, _ = ATTACKS[name]
    b = graded(slug, tmp_path_factory)
    honest = b[f"attack:base-{base}"] if base in {"skeleton", *EXTRA_BASES} else b[base]
    good = b[variants(slug)[0].stem]
    return b.a, honest, b[f"attack:{name}"], good, b.out


def attack_output(name: str, tmp_path_factory) -> str:
    slug = ATTACKS[name][0]
    b = graded(slug, tmp_path_factory)
    return outputs(b.out, Path(b.names[f"attack:{name}"]).stem)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_no_item_goes_above_its_honest_value_and_the_batch_goes_on(name, tmp_path_factory):
    a, honest, attacked, good, _ = _honest(name, tmp_path_factory)
    for it in a.items:
        if it.manual:
            continue
        assert attacked.item(it.id).points <= honest.item(it.id).points + 1e-6, \
            (name, it.id, attacked.item(it.id).points, honest.item(it.id).points, attacked.review)
    assert good.status == Status.GRADED and good.auto_points == pytest.approx(a.auto_max), good.review


def test_rebinding_the_probe_library_is_undone_and_reported(tmp_path_factory):
    _, _, r, _, _ = _honest("rebind-probe-library", tmp_path_factory)
    assert r.auto_points == 0
    assert any("replaced functions the grader relies on" in x.reason for x in r.review), r.review


def test_frame_walking_during_probing_is_blocked_and_voids_the_training_items(tmp_path_factory):
    _, honest, r, _, _ = _honest("steal-the-targets", tmp_path_factory)
    assert r.item("3a").points == 0 and r.item("3b").points == 0      # 3c is marked by hand
    assert r.status == Status.REVIEW
    assert any("integrity violation" in x.reason and "frame access" in x.evidence for x in r.review), r.review


def test_the_reference_is_nowhere_in_the_kernels_view(tmp_path_factory):
    _, _, r, _, _ = _honest("read-the-reference", tmp_path_factory)
    text = attack_output("read-the-reference", tmp_path_factory)
    assert int(text.split("SEARCHED ")[1].split()[0]) > 1000 and "FOUND 0" in text, text[-300:]
    assert r.auto_points == 0


def test_the_grader_survives_kill_and_persistence_attempts(tmp_path_factory):
    _, _, r, good, _ = _honest("kill-the-grader", tmp_path_factory)
    assert r.status in {Status.GRADED, Status.REVIEW} and good.auto_points > 0
    _honest("write-site-packages", tmp_path_factory)
    assert not PTH.exists()


def test_expression_bombs_are_bounded(tmp_path_factory):
    _, _, r, _, _ = _honest("expression-bombs", tmp_path_factory)
    assert r.item("4.3").points == 0 and r.timings["judge_s"] < 5


def test_kernels_cannot_see_each_other_or_the_submission_names(tmp_path_factory):
    _, _, r, _, _ = _honest("read-other-workspaces", tmp_path_factory)
    assert r.auto_points == 0
    text = attack_output("read-other-workspaces", tmp_path_factory)
    assert "MOUNTINFO" in text and "/w " in text          # it did read its mountinfo
    assert "victim" not in text and "read-other-workspaces" not in text and "attacks-" not in text


def test_a_starved_kernel_is_replayed_with_its_definitions(tmp_path_factory):
    a, _, r, _, _ = _honest("starve-the-kernel", tmp_path_factory)
    assert r.auto_points == pytest.approx(a.auto_max), r.review
    assert any(c.status == "starved" for c in r.cells), r.cells


def test_hooks_and_patching_threads_do_not_hide_a_leak(tmp_path_factory):
    _, honest, r, _, _ = _honest("audit-hook-and-thread", tmp_path_factory)
    assert r.item("1").points <= honest.item("1").points < 40
    assert r.status == Status.REVIEW


def test_a_tampered_channel_scores_nothing_and_is_reported(tmp_path_factory):
    _, _, r, good, _ = _honest("tamper-with-the-channel", tmp_path_factory)
    assert r.auto_points == 0 and good.auto_points > 0
    assert any("gc walk" in x.reason for x in r.review), r.review


def test_no_network(tmp_path_factory):
    text = attack_output("network", tmp_path_factory)
    assert "NETWORK" in text and "refused" in text and "CONNECTED" not in text


@pytest.mark.skipif(not UNPRIVILEGED, reason="the sandbox could not drop privileges here: no per-job process limit")
def test_a_fork_bomb_is_bounded(tmp_path_factory):
    _, _, r, good, _ = _honest("fork-bomb", tmp_path_factory)
    text = attack_output("fork-bomb", tmp_path_factory)
    kids = int(text.split("FORKED ")[1].split()[0]) if "FORKED " in text else 0
    assert kids < sandbox.NPROC and good.auto_points > 0


@pytest.mark.skipif(not UNPRIVILEGED, reason="the sandbox could not drop privileges here")
def test_filling_the_disk_is_stopped(tmp_path_factory):
    _, _, r, good, _ = _honest("fill-the-disk", tmp_path_factory)
    assert any(c.status in {"crashed", "error"} for c in r.cells) and good.auto_points > 0


def test_grade_reports_what_the_sandbox_enforced(tmp_path_factory):
    _, _, r, _, _ = _honest("network", tmp_path_factory)
    assert r.sandbox["mode"] == sandbox.describe()["mode"]
    if UNPRIVILEGED:
        assert r.sandbox["network_off"] and r.sandbox["allow_list_view"] and r.sandbox["unprivileged_uid"]


def test_without_namespaces_grade_says_so_in_red(monkeypatch):
    from grader import cli
    sandbox.capabilities.cache_clear()
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    try:
        d = sandbox.describe()
        assert d["mode"] == "rlimits-only" and not d["network_off"] and "bwrap" in d["problem"]
        with cli.console.capture() as cap:
            cli._sandbox_line()
        assert "NO namespaces" in cap.get()
        assert sandbox.command(sandbox.Policy(workspace=Path("/tmp"), run=Path("/tmp")), ["true"])[0] == "setsid"
    finally:
        sandbox.capabilities.cache_clear()


# A kernel forked from a slot's warm zygote (grader/zygote.py) must meet nothing of the
# submission graded before it in the same slot.
HAUNT = """
import os, signal, time
def _haunt():
    open("/tmp/planted", "w").write("x")
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            for _ in range(1200):
                try:
                    open("/w/HAUNTED", "w").write("x")
                except OSError:
                    pass
                time.sleep(0.05)
        os._exit(0)
    time.sleep(0.5)
_ = _haunt()
"""
STOP = """
import os, signal
_ = os.kill(os.getppid(), signal.SIGSTOP)      # a forked kernel's parent is its zygote
"""
LOOK = """
import os, time
def _look():
    time.sleep(0.5)
    return print("LEFT", os.path.exists("/tmp/planted"), os.path.exists("/w/HAUNTED"))
_ = _look()
""" + READ_DESCRIPTORS


def test_nothing_a_submission_leaves_meets_the_next_one_in_its_slot(tmp_path_factory):
    slug = "denoising-autoencoder"
    d = tmp_path_factory.mktemp("haunt")
    ref = base_text(slug, "reference")
    # one job: slots 0 and 1 take turns, so c runs in a's slot right after it, d in b's
    cases = [("a-haunt", HAUNT + EARLIER_OUTPUT), ("b-stop", STOP + EARLIER_OUTPUT), ("c-look", LOOK),
             ("d-look", LOOK)]
    for name, cell in cases:
        (d / f"{name}.py").write_text(ref + "\n# %%\n" + cell.strip() + "\n")
    out = tmp_path_factory.mktemp("haunt-out")
    a, res = grade_all(slug, sorted(d.iterdir()), out, jobs=1)
    for name in ("c-look", "d-look"):
        assert "LEFT False False" in outputs(out, name), outputs(out, name)
        assert "EARLIER OUTPUT False" in outputs(out, name)          # through no descriptor it holds
        assert res[f"{name}.py"].auto_points == pytest.approx(a.auto_max), res[f"{name}.py"].review
        if zygote.Pool.usable("cpu"):
            assert res[f"{name}.py"].timings["warm_starts"] >= 1      # the forked path is the one tested


@pytest.mark.skipif(not zygote.Pool.usable("cpu"), reason="no namespace sandbox here: kernels start cold")
def test_a_zygote_outlives_the_worker_thread_that_needed_it(tmp_path):
    """bwrap dies with the thread that started it; a slot's zygote is used by whichever
    worker comes next, so the worker that (re)started it must not take it down on exit."""
    import threading
    import time
    pool = zygote.Pool("torch", ["torch"], tmp_path / "slots", 1, 4000, [])
    try:
        got = []
        t = threading.Thread(target=lambda: got.append(pool.get(0)))
        t.start()
        t.join()
        time.sleep(1.0)
        assert got[0] is not None and got[0].alive()
        assert pool.get(0) is got[0]
    finally:
        pool.close()


PLANT_KERNEL = """
import os
def _plant():
    os.makedirs("grader/run", exist_ok=True)
    for f in ("grader/__init__.py", "grader/run/__init__.py"):
        open(f, "w").write("")
    for f in ("grader/run/__main__.py", "grader/run/kernel.py"):
        open(f, "w").write("import sys\\nsys.exit(3)\\n")
    os._exit(1)
_ = _plant()
"""


def test_a_grader_package_in_the_workspace_does_not_replace_the_kernel(tmp_path):
    """A kernel restarted cold (`python -m grader.run kernel` in the workspace) must import the
    grader's own package, not one the submission wrote beside its files."""
    slug = "denoising-autoencoder"
    (tmp_path / "plant.py").write_text(base_text(slug, "reference") + "\n# %%\n" + PLANT_KERNEL.strip() + "\n")
    a, res = grade_all(slug, [tmp_path / "plant.py"], tmp_path / "out", jobs=1)   # one submission: cold kernels
    r = res["plant.py"]
    assert r.timings["warm_starts"] == 0
    assert r.auto_points == pytest.approx(a.auto_max), (r.reason, r.review)


# ---- the kernel's hygiene (issue 17): shadowed libraries, bytecode, descriptors, output ---------------

def _traces(r, *files) -> list:
    """Review entries that show one of the submission's `files` running (the trace SHADOW leaves)."""
    return [x for x in r.review if any(f"{f}:" in x.evidence for f in files)]


def test_a_package_named_like_a_library_never_stands_in_for_it(tmp_path_factory):
    """PyTorch: the notebook imports its own PIL/ first; the grader's sprites loader still
    reads the sprites, and torch's lazy import of sympy gets the real one."""
    _, honest, r, _, _ = _honest("shadow-a-library", tmp_path_factory)
    assert honest.item("3b").points == 0                 # the attack has something to gain
    assert r.item("3b").points == 0 and r.item("3a").points <= honest.item("3a").points
    assert not _traces(r, "sympy.py"), r.review


def test_a_library_named_module_never_runs_for_keras_or_the_kernel(tmp_path_factory):
    """Keras: the module nbformat imports when the grader loads the reference, and the one
    ipykernel imports as the kernel starts, come from the environment."""
    _, honest, r, _, _ = _honest("shadow-a-library-keras", tmp_path_factory)
    assert r.auto_points <= honest.auto_points
    assert not _traces(r, "debugpy.py", "fastjsonschema.py"), r.review


def test_bytecode_in_a_submission_is_dropped_and_never_run(tmp_path_factory):
    """The zip's __pycache__ entry (unchecked hash) and sourceless .pyc files are left out at
    unpacking (said in the review column); planted again by a cell, the kernel still runs
    only the source: the skeleton's value, and no answers module without its source."""
    _, honest, r, _, _ = _honest("shipped-bytecode", tmp_path_factory)
    assert r.auto_points == honest.auto_points == 0
    assert any("compiled Python file(s)" in x.reason and x.reason.startswith("3 ") for x in r.review), r.review
    assert "No module named 'answers'" in attack_output("shipped-bytecode", tmp_path_factory)


def test_a_kernel_holds_no_descriptor_of_another_run(tmp_path_factory):
    """Its own pipes, sockets and event descriptors, /dev/null: no file at all (a slot's log
    was one), nothing of the grader's (the slot test below shows that no earlier kernel's
    output can be read)."""
    text = attack_output("read-the-descriptors", tmp_path_factory)
    seen = ast.literal_eval(text.split("DESCRIPTORS ")[1].splitlines()[0])
    own = ("pipe:", "socket:", "anon_inode:", "/dev/")
    assert len(seen) > 10 and all(t.startswith(own) for t in seen), seen


def test_gigabytes_on_stderr_fill_no_disk_and_300_mb_of_output_are_cut_with_a_note(tmp_path_factory):
    a, _, r, _, out = _honest("flood-the-output", tmp_path_factory)
    text = attack_output("flood-the-output", tmp_path_factory)
    assert "FLOODED 1536" in text                     # 1.5 GB written to stderr, the cell finished
    assert "[grader: output truncated" in text and "PRINTED" in text and "yyyy" not in text
    assert (out / "attack-flood-the-output" / "executed.ipynb").stat().st_size < 4_000_000
    assert r.auto_points == pytest.approx(a.auto_max), r.review


# ---- issue 17: evidence the grader computed itself -----------------------------------------------------

def _evidence(r) -> str:
    return " ".join(f"{x.reason} {x.evidence}" for x in r.review)


def test_the_reference_is_out_of_reach_of_libraries_that_walk_frames(tmp_path_factory):
    """Encoder/Decoder/ANSWERS looked up through logging's and traceback's frames, torch's
    resolution callbacks, pydantic's parent namespace, the classes in the process and the heap:
    nothing of the reference is found, nothing reaches the feedback, the blocked walks are
    evidence."""
    a, _, r, _, out = _honest("reference-through-libraries", tmp_path_factory)
    assert r.auto_points == 0 and r.status == Status.REVIEW
    assert "frame access" in _evidence(r) and "not a plain value" in _evidence(r), r.review
    b = graded(ATTACKS["reference-through-libraries"][0], tmp_path_factory)
    feedback = (out / Path(b.names["attack:reference-through-libraries"]).stem / "feedback.md").read_text()
    reference = a.reference_path.read_text()
    for line in ("n_in = 3 * img_size * img_size", "nn.BatchNorm1d(z_dim), nn.ReLU()", "def block(c_in, c_out"):
        assert line in reference and line not in feedback


def test_a_tensor_that_shrinks_the_loss_voids_the_training_items(tmp_path_factory):
    _, honest, r, _, _ = _honest("torch-function-shrinks-the-loss", tmp_path_factory)
    assert r.item("3a").points == 0 and r.item("3b").points == 0 and honest.item("3a").points > 0
    assert r.status == Status.REVIEW and "not a plain value" in _evidence(r), r.review


def test_a_faked_shape_earns_no_shape_check(tmp_path_factory):
    _, _, r, _, _ = _honest("faked-shape", tmp_path_factory)
    for item, check in (("2a", "output sizes"), ("2b", "layer output sizes")):
        assert not next(c for c in r.item(item).checks if c.name == check).passed
    assert "not a plain value" in _evidence(r), r.review


def test_rebinding_below_the_functional_api_is_undone_and_voids_the_probe(tmp_path_factory):
    _, honest, r, _, _ = _honest("rebind-below-the-functional-api", tmp_path_factory)
    ev = _evidence(r)
    assert "torch._C._nn.l1_loss" in ev and "replaced functions the grader relies on" in ev, r.review
    assert r.item("3a").points == 0 and r.item("3b").points == 0


def test_code_swapped_into_a_watched_function_is_undone_and_voids_the_probe(tmp_path_factory):
    """At top level (reported and put back before probing) and during probing through a library
    that sets it (the hook does not blame the student; the comparison after the probe does)."""
    _, honest, r, _, _ = _honest("swap-the-code-below-the-loss", tmp_path_factory)
    ev = _evidence(r)
    assert "torch.nn.functional.l1_loss" in ev and "replaced functions the grader relies on" in ev, r.review
    assert "during probing" in ev and "code swap" in ev, r.review
    assert r.item("3a").points == 0 and r.item("3b").points == 0 and honest.item("3a").points > 0


def test_parameters_that_take_no_part_do_not_count(tmp_path_factory):
    _, _, r, _, _ = _honest("unused-parameters", tmp_path_factory)
    assert not next(c for c in r.item("2a").checks if c.name == "parameter count").passed
    assert not next(c for c in r.item("2b").checks if c.name == "convolution parameters").passed


def test_rebinding_below_the_gradient_tape_is_undone(tmp_path_factory):
    _, _, r, _, _ = _honest("rebind-below-the-tape", tmp_path_factory)
    assert not next(c for c in r.item("C7").checks if c.name == "gradient step").passed
    assert "imperative_grad" in _evidence(r), r.review


def test_a_torch_function_mode_left_active_voids_what_it_saw(tmp_path_factory):
    _, honest, r, _, _ = _honest("torch-function-mode-spy", tmp_path_factory)
    check = next(c for c in r.item("1").checks if c.name == "calc_likelihood")
    assert not check.passed and "function mode" in _evidence(r), r.review
