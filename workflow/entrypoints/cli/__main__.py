"""`python -m workflow.entrypoints.cli`: the `kvalitet` command, as the tests and `serve` run it."""

from workflow.entrypoints.cli import main

main()
