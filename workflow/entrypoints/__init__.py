"""Ways in: the CLI (and later the HTTP API and web pages). Parse, call a service, map errors."""
