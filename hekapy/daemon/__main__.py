"""``python -m hekapy.daemon``: the same as ``hekapy-router``."""

from hekapy.daemon.cli import main

raise SystemExit(main())
