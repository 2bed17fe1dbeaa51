"""``python -m galaxy_lib <verb>``."""

from galaxy_lib.cli import main

raise SystemExit(main())
