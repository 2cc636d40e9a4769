"""Kernels running at the same time never share a sandbox slot (their uid): not within one
grader (a batch's jobs and the reference's run beside them), not across graders on one machine
(run/slots.py)."""
import os
import shutil
import signal
import subprocess
import sys

from grader import assignment, submission
from grader.run import execute, sandbox, slots

HOLD = """
import sys
from grader.run import slots
print(" ".join(map(str, slots.take(int(sys.argv[1])))), flush=True)
sys.stdin.read()
"""


def _holder(n: int, env: dict) -> tuple[subprocess.Popen, set[int]]:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, env=env)
    return p, {int(k) for k in p.stdout.readline().split()}


def test_another_grader_on_the_machine_never_gets_a_held_slot(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_SLOTS", str(tmp_path / "locks"))
    env = {**os.environ, "GRADER_SLOTS": str(tmp_path / "locks")}
    mine = set(slots.take(2))
    other, theirs = _holder(3, env)
    try:
        assert len(theirs) == 3 and not theirs & mine
        more = set(slots.take(2))
        assert not more & (mine | theirs)
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait()
    # a grader that dies however it dies lets its slots go
    again = set(slots.take(3))
    assert again == theirs
    slots.give(mine | more | again)
    assert not slots.held() & (mine | more | again)


def test_threads_of_one_grader_lease_disjoint_slots(tmp_path, monkeypatch):
    import threading
    monkeypatch.setenv("GRADER_SLOTS", str(tmp_path / "locks"))
    got: list[list[int]] = []
    threads = [threading.Thread(target=lambda: got.append(slots.take(2))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [k for g in got for k in g]
    assert len(flat) == 16 and len(set(flat)) == 16
    slots.give(flat)


def test_a_single_kernel_leases_a_slot_beside_a_batchs_and_gives_it_back(tmp_path, monkeypatch):
    """The reference's run beside a batch's jobs, or a check beside a batch: its own uid."""
    monkeypatch.setenv("GRADER_SLOTS", str(tmp_path / "locks"))
    a = assignment.get("denoising-autoencoder")
    batch = set(slots.take(3))
    sessions = []
    try:
        for _ in range(2):
            sub = submission.load(a.reference_path, a.entry)
            sessions.append(execute.Session(sub, a.framework, 10, 60, 2000))
        uids = {sandbox.uid(s.policy) for s in sessions}
        assert len(uids) == 2 and not {u - sandbox.UID_BASE for u in uids} & batch
    finally:
        for s in sessions:
            s.close()
            shutil.rmtree(s.sub.root, ignore_errors=True)
        slots.give(batch)
    assert not slots.held()
