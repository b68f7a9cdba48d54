"""``python -m streams``: the ``streamwise`` command line."""

from streams.cli import main

main()
