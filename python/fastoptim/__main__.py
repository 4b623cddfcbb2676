"""``python -m fastoptim`` runs the command line."""

from .cli import main

raise SystemExit(main())
