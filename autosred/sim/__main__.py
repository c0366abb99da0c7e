"""`python -m autosred.sim`: the same as the `autosred-sim` console script."""

from autosred.sim.main import main

raise SystemExit(main())
