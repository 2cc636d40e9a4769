"""The run stage: a submission's sandbox (sandbox.py), the armed kernel in it (kernel.py), a
batch slot's warm zygote (zygote.py), and the notebook's execution (execute.py). The
sandboxed processes start through one entry point, `python -P -m grader.run` (__main__.py)."""
