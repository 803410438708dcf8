"""Prometheus: the state as metric families (`/metrics`), the API's own series re-exported, and
the rendered bodies shared between scrapers."""
