"""The configuration loader: the field table, where values come from (environment, YAML), and the
validated `Settings`. Above the runtime: only the composition root, reload and the commands
import it; the runtime gets values and errors from `watchdog.base`."""
