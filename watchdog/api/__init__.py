"""What the API says: its endpoints and failure reasons, its answers parsed into typed values, and
what a failed poll means. Pure functions of an answer; imports only `watchdog.base`."""
