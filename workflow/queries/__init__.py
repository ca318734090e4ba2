"""Read-only queries: what the pages, the API and the CLI show."""
