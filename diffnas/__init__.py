"""diffnas: measure how differentiable NAS samplers converge.

This package imports nothing heavy at import time, so ``diffnas --help`` is instant and
``diffnas report`` runs where torch and Ray are not installed.
"""

__version__ = "0.1.0"
