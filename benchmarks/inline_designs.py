"""Issue 18's two designs for grading inline answers, measured on the course-notebook-style
calligraphy reference (reference/pixelcnn-calligraphy/solution.py). Run by hand; the numbers go
into closing notes, not into tests.

- A (what the grader does): the notebook runs in definitions mode; each item's cells run once
  per probe as the function they stand for, on the grader's model and data (C8: the model of
  Table 1; C9: a model of known probabilities; C10/C11: a small model, one capped epoch). Its
  cost is `grader grade`'s execute and probe times for C8-C11.
- B (the alternative): run the notebook in full on the fixtures with training capped (one
  epoch), then re-run each item's cells under substitutions. Its first stage alone is
  measured here, in this process (no sandbox, so a lower bound): every cell of the reference,
  `fit` capped at one epoch, and the generation loop timed over its first 32 pixels and
  extrapolated to 1,024 (a full-size model's forward pass per pixel). Its second stage is A's
  item runs again.

    .venv/bin/python benchmarks/inline_designs.py [--pixels 32]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REF = ROOT / "reference" / "pixelcnn-calligraphy" / "solution.py"
ITEMS = ("C8__pretrained_weights", "generation", "C10__test_BCE", "C11__optimizer", "C11__training")


def design_a() -> dict:
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "grader"), "grade", "pixelcnn-calligraphy", str(REF), "--out", out,
                        "--no-resume"], check=True, capture_output=True)
        wall = time.perf_counter() - t
        r = json.loads((Path(out) / REF.stem / "result.json").read_text())
    t = r["timings"]
    return {"wall_s": round(wall, 1), "execute_s": t["execute_s"], "probe_s": t["probe_s"],
            "inline_probes_s": round(sum(t["probes"].get(k, 0.0) for k in ITEMS), 1),
            "auto_points": r["auto_points"]}


def design_b_first_stage(pixels: int) -> dict:
    import keras

    from grader.notebooks import notebook_from_py

    os.environ["PA2_DATA_DIR"] = str(ROOT / "assignments" / "pixelcnn-calligraphy" / "data")
    nb = notebook_from_py(REF.read_text())
    fit = keras.Model.fit

    def capped(self, *a, **k):
        k["epochs"] = 1
        return fit(self, *a, **k)

    keras.Model.fit = capped
    ns: dict = {"__name__": "__main__"}
    times = {}
    try:
        for i, c in enumerate(nb.cells):
            if c.cell_type != "code" or "report" in c.metadata.get("tags", []):
                continue
            src = c.source
            label = next((ln for ln in src.splitlines() if ln.startswith("### [")), f"cell {i}")
            if "[C9:" in src:        # the generation loop over its first `pixels` pixels, extrapolated
                src = src.replace("for row in range(IMG_SIZE):", f"for row in range({max(1, pixels // 32)}):")
            t = time.perf_counter()
            exec(compile(src, f"<cell {i}>", "exec"), ns)
            dt = time.perf_counter() - t
            times[label] = round(dt * (1024 / max(32, pixels)) if "[C9:" in src else dt, 1)
    finally:
        keras.Model.fit = fit
    return {"cells_s": times, "total_s": round(sum(times.values()), 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pixels", type=int, default=32)
    a = ap.parse_args()
    print(json.dumps({"A": design_a()}), flush=True)
    print(json.dumps({"B_first_stage": design_b_first_stage(a.pixels)}), flush=True)


if __name__ == "__main__":
    main()
