"""``python -m tests.fakes.cluster …``: the contract's name for ``python -m fake_k3s …``."""

import sys

from fake_k3s.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
