"""`python -m mlsiem` is the same as the `mlsiem` command."""

from mlsiem.cli import main

main()
