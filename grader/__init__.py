"""grader: executes deep-learning notebook submissions in a sandbox, probes their
definitions and judges them against the reference solution."""

__version__ = "0.1.0"
