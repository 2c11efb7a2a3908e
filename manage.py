#!/usr/bin/env python
"""Django's command-line utility for Kronvex.

With no DATABASE_URL, every command runs against the embedded PostgreSQL: this
process starts it (and stops it on exit) unless another process already runs it.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kronvex.settings")
    from django.conf import settings
    from django.core.management import execute_from_command_line

    from kronvex.embedded_postgres import embedded_database

    if not _needs_database(sys.argv):
        execute_from_command_line(sys.argv)
        return
    with embedded_database(settings.KRONVEX_DATA_DIR):
        execute_from_command_line(sys.argv)


def _needs_database(argv: list[str]) -> bool:
    command = argv[1] if len(argv) > 1 else "help"
    return command not in {
        "help",
        "--help",
        "-h",
        "version",
        "--version",
        "collectstatic",
        "makemessages",
        "compilemessages",
        "startapp",
    }


if __name__ == "__main__":
    main()
