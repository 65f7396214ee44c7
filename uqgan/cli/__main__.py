"""``python -m uqgan.cli``: the command line."""

from . import main

main()
