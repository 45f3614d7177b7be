"""`python -m mlsiem` is the same as the `mlsiem` command.

The one module of the core package that may import the application (`cli`): it is an entry point,
never imported by the core itself (tests/test_layout.py allows exactly this file).
"""

from cli import main

main()
