"""Puts the assignment's folder (its cifar.py: the handout's preprocessing) on sys.path for
the scripts in this folder."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "assignments",
                                "colourization-cifar10"))
