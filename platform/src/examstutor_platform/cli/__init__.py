"""The ``examstutor`` command line (CONTRACT §2).

Errors print as one line on stderr that a person can act on; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from examstutor_platform.cli import audit, db, dev, keys, staff
from examstutor_platform.errors import PlatformError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The full ``examstutor`` parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="examstutor",
        description="ExamsTutor compliance platform: database, keys, staff, audit, dev server.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    dev.register(commands)
    db.register(commands)
    keys.register(commands)
    audit.register(commands)
    staff.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    except (PlatformError, OSError) as exc:
        if args.debug:
            traceback.print_exc()
        else:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"examstutor: error: {message}", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
