"""``python -m jditem.cli``."""

from jditem.cli.app import main

main()
