"""The HTTP side: the JSON API under /api/v1, its plumbing, and the server that runs it."""
