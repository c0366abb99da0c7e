"""``python -m autosred.ctl``: the same as the ``autosrectl`` console script."""

from autosred.ctl.main import main

raise SystemExit(main())
