"""Kernels running at the same time never share a sandbox slot (their uid): not within one
grader (a batch's jobs and the reference's run beside them), not across graders on one machine
(run/slots.py)."""
import shutil
import signal
import subprocess
import sys

from grader import assignment, submission
from grader.run import execute, sandbox, slots

HOLD = """
import sys
from grader.run import slots
print(" ".join(map(str, slots.take(int(sys.argv[1]), sys.argv[2]))), flush=True)
sys.stdin.read()
"""
# the tests lease from a folder of locks of their own: in a full run, the session batches lease
# the machine's slots from this process at the same time


def _holder(n: int, where) -> tuple[subprocess.Popen, set[int]]:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(n), str(where)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    return p, {int(k) for k in p.stdout.readline().split()}


def test_another_grader_on_the_machine_never_gets_a_held_slot(tmp_path):
    where = tmp_path / "locks"
    first, theirs = _holder(3, where)
    try:
        mine = set(slots.take(2, where))
        assert len(theirs) == 3 and not theirs & mine
        second, also = _holder(2, where)
        assert not also & (mine | theirs)
    finally:
        first.send_signal(signal.SIGKILL)           # a grader that dies however it dies lets its slots go
        first.wait()
    third, again = _holder(3, where)                 # the lowest free ones: the dead grader's
    assert again == theirs
    for p in (second, third):
        p.kill()
        p.wait()
    slots.give(mine)
    assert not slots.held() & mine


def test_threads_of_one_grader_lease_disjoint_slots(tmp_path):
    import threading
    got: list[list[int]] = []
    threads = [threading.Thread(target=lambda: got.append(slots.take(2, tmp_path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [k for g in got for k in g]
    assert len(flat) == 16 and len(set(flat)) == 16
    slots.give(flat)


def test_a_single_kernel_leases_a_slot_beside_a_batchs_and_gives_it_back():
    """The reference's run beside a batch's jobs, or a check beside a batch: its own uid."""
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
    assert not slots.held() & ({u - sandbox.UID_BASE for u in uids} | batch)
