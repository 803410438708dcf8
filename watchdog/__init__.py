"""wa-watchdog."""
