"""``examstutor keys new-kek``."""

from __future__ import annotations

import argparse

from examstutor_platform.settings import new_kek

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keys`` and its sub-commands."""
    parser = commands.add_parser("keys", help="encryption keys: new-kek")
    sub = parser.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)
    kek = sub.add_parser(
        "new-kek", help="print a fresh KEK in the form EXAMSTUTOR_KEKS takes (id:base64url32)"
    )
    kek.add_argument("--id", dest="kek_id", default=None, help="the KEK's id (default: random)")
    kek.set_defaults(handler=_new_kek)


def _new_kek(args: argparse.Namespace) -> int:
    print(new_kek(args.kek_id))
    return 0
