"""``python -m watchkeeper`` runs the same CLI as the ``watchkeeper`` script."""

from watchkeeper.cli import main

main()
