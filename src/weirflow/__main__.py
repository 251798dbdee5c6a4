"""``python -m weirflow``: the command line."""

from .cli import main

raise SystemExit(main())
