"""What every layer may import: values as configured (durations, URLs, targets, secrets),
configuration errors, logging and redaction. Nothing here imports the rest of the watchdog."""
