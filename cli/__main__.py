"""`python -m cli` is the same as the `mlsiem` command."""

from cli import main

main()
