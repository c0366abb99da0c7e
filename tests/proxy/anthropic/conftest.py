"""Make ``tests.proxy.anthropic.anth_helpers`` importable under the plain ``pytest`` script.

mypy names these modules from the repository root (``tests.proxy.anthropic…``); pytest's
default import mode only puts this folder on ``sys.path``. Until the project sets
``pythonpath = ["."]`` for pytest, the repository root is added here (a no-op once it is).
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
