"""Framework adapters: what checks need from a deep-learning library (build, forward,
hooks, parameter counts, gradients, weight transfer, seeding, device), one module per
framework, so that no check imports torch or tensorflow."""
