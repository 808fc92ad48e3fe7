"""``examstutor staff create``: the first auditor, steward or admin of a deployment.

The password is read from standard input (never from an argument, which
would show in ``ps`` and shell history), hashed with argon2id at the default
(RFC 9106) cost, and the account is written with an ``admin.role_assignment``
audit event in the same transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid

import asyncpg

from examstutor_platform.audit.events import AuditEvent
from examstutor_platform.audit.store import append_event
from examstutor_platform.crypto import (
    DEFAULT_PROFILE,
    BlindIndex,
    DataKeyStore,
    FieldCipher,
    Pseudonymiser,
    hash_password,
)
from examstutor_platform.db import connect
from examstutor_platform.db.location import resolve_url
from examstutor_platform.errors import DatabaseError
from examstutor_platform.settings import Settings
from examstutor_platform.staff import (
    MIN_STAFF_PASSWORD_LENGTH,
    STAFF_ROLES,
    StaffExistsError,
    create_staff,
    email_problem,
)

__all__ = ["register"]

_MAX_PASSWORD_LENGTH = 256
#: how the audit log names the operator who ran the command (no person behind a CLI is known)
_CLI_ACTOR = "cli:examstutor-staff-create"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``staff`` and its sub-commands."""
    parser = commands.add_parser("staff", help="staff accounts: create")
    sub = parser.add_subparsers(dest="staff_command", metavar="COMMAND", required=True)
    create = sub.add_parser(
        "create",
        help="create a staff account (exit 1 if the email already has one)",
        description="Create an auditor, steward or admin account. The password is read "
        "from standard input: printf '%s' \"$PASSWORD\" | examstutor staff create ...",
    )
    create.add_argument("--email", required=True, help="the staff member's email address")
    create.add_argument("--role", required=True, choices=STAFF_ROLES)
    create.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help=f"read the password (at least {MIN_STAFF_PASSWORD_LENGTH} characters) from stdin",
    )
    create.set_defaults(handler=_create)


def _fail(message: str) -> int:
    print(f"examstutor: error: {message}", file=sys.stderr)
    return 1


def _read_password() -> str:
    text = sys.stdin.read()
    # one trailing newline is what `echo` and here-strings add; it is not part of the password
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    return text


def _create(args: argparse.Namespace) -> int:
    problem = email_problem(args.email)
    if problem:
        return _fail(f"--email {problem}")
    password = _read_password()
    if len(password) < MIN_STAFF_PASSWORD_LENGTH:
        return _fail(
            f"the password on stdin must be at least {MIN_STAFF_PASSWORD_LENGTH} characters"
        )
    if len(password) > _MAX_PASSWORD_LENGTH:
        return _fail(f"the password on stdin must be at most {_MAX_PASSWORD_LENGTH} characters")
    settings = Settings.from_env()
    url = resolve_url(settings)
    password_hash = hash_password(password, profile=DEFAULT_PROFILE)
    try:
        staff_id = asyncio.run(_insert(settings, url, args.email.strip(), args.role, password_hash))
    except StaffExistsError:
        return _fail("a staff account with that email already exists")
    print(f"created {args.role} account {staff_id}")
    return 0


async def _insert(
    settings: Settings, url: str, email: str, role: str, password_hash: str
) -> uuid.UUID:
    try:
        conn = await connect(url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseError(f"cannot connect to the database: {exc}") from exc
    try:
        store = DataKeyStore()
        await store.ensure_primary(conn, settings.keks)
        cipher = FieldCipher(await store.load(conn, settings.keks))
        index = BlindIndex(settings.index_key)
        async with conn.transaction():
            staff_id = await create_staff(conn, cipher, index, email, role, password_hash)
            await append_event(
                conn,
                AuditEvent(
                    actor_pseudonym=_CLI_ACTOR,
                    actor_role="operator",
                    action="admin.role_assignment",
                    resource="staff",
                    resource_id=Pseudonymiser(settings.pseudonym_key).pseudonym(
                        "staff", str(staff_id)
                    ),
                    outcome="success",
                    severity="medium",
                    details={"role": role, "operation": "create", "via": "cli"},
                ),
            )
        return staff_id
    except asyncpg.UndefinedTableError:
        raise DatabaseError(
            "the database has no staff table yet: run `examstutor db migrate` first"
        ) from None
    except asyncpg.PostgresError as exc:
        raise DatabaseError(f"the database refused the new account: {exc}") from exc
    finally:
        await conn.close()
