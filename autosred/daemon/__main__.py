import sys

from autosred.daemon.main import main

sys.exit(main())
