"""The web pages: Swedish, server-rendered with Jinja2, usable without JavaScript.

Each request is one transaction (`workflow.db.transaction`), so a refused change changes
nothing. Access is asked of the same functions the HTTP API asks (`http.deps`,
`access.may_move`): a page shows only the entries its user may see (404 otherwise) and a
form only for a move the user may make; a forbidden POST gets a 403 page with the reason.
Errors are pages, never JSON and never a 500: 409 for a stale version (with a link to
reload), 422 next to the form, 413 for an upload over 20 MB, 429 after too many logins.
Paths under /api/, /metrics and /healthz keep the API's JSON errors.

`routes` (the pages one reads, and `install`), `forms` (the entry page's POSTs),
`entry_page` (what it shows and offers), `session` (login, cookies, CSRF), `pages`
(rendering), `words` (Swedish labels and filters), `errors` (errors as pages).
"""
