"""``python -m headwater``: the command line."""

from headwater.cli.main import main

main()
