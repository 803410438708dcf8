"""The watchdog's own HTTP surface: routes, status verdicts and page, access control, its HTTPS,
and running uvicorn."""
