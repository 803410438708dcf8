"""`python -m watchdog` runs the CLI."""

from watchdog.cli import main

raise SystemExit(main())
