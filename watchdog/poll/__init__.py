"""Asking the API: one client per target (auth, HTTP exchange, TLS), and the scheduler that runs a
poll job per target and endpoint and records every result in the state."""
