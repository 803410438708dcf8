"""Alerting: rules over the state, an engine with pending/firing/resolved, and sinks."""
