"""Anonymisation with strategies other than ``null``: values masked in Python.

The shipped policy nulls every column it anonymises, which runs as one UPDATE per
batch in the database. A policy may instead name a strategy of the masking registry
(``redact``, ``hmac_pseudonym``, ``generalise_date``, ``truncate_ip``,
``random_string``); then each locked batch is read, masked here and written back row
by row (``executemany``), in the batch's transaction.

* A plain column is masked as read (dates, text, addresses) and written back as text
  cast to the column's type, so a strategy whose result does not fit the column
  (a year into a ``date``) fails loudly naming the column.
* An encrypted column (``*_enc`` ``bytea``) is decrypted with the row's data key
  (bound to table, column and the row's ``id``), masked, and encrypted again under
  the primary key. So that a row never mixes key versions, the row's other
  ciphertexts are re-encrypted under the primary key too and ``key_version`` follows.
* ``hmac_pseudonym`` without a ``key`` uses ``EXAMSTUTOR_PSEUDONYM_KEY``;
  ``generalise_date`` without ``as_of`` takes ages at the run's moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from examstutor_platform.crypto.fields import FieldCipher
from examstutor_platform.masking import GeneraliseDateStrategy, MaskingStrategy, get_strategy
from examstutor_platform.retention.tables import RetentionError, TablePlan, quote
from examstutor_platform.settings import Settings

__all__ = ["ColumnMasker"]


def _is_encrypted(plan: TablePlan, column: str) -> bool:
    return column.endswith("_enc") and plan.columns.get(column) == "bytea"


class ColumnMasker:
    """Masks the policy columns of one table's rows, as read by ``anonymise_pick``."""

    def __init__(
        self, plan: TablePlan, settings: Settings, cipher: FieldCipher | None, today: date
    ) -> None:
        self.plan = plan
        self.today = today
        self.cipher = cipher
        self.strategies: dict[str, MaskingStrategy[Any] | None] = {}
        for rule in plan.rule.columns:
            if rule.strategy == "null":
                self.strategies[rule.column] = None
                continue
            options: dict[str, object] = dict(rule.options)
            if rule.strategy == "hmac_pseudonym":
                options.setdefault("key", settings.pseudonym_key)
            self.strategies[rule.column] = get_strategy(rule.strategy, **options)
        encrypted = [c for c, s in self.strategies.items() if s and _is_encrypted(plan, c)]
        self.reencrypt: tuple[str, ...] = ()
        self.sets_key_version = False
        if encrypted:
            if "id" not in plan.columns or cipher is None:
                raise RetentionError(
                    f"table {plan.name!r}: masking encrypted columns needs an id column "
                    "and the key ring"
                )
            if "key_version" in self.strategies:
                raise RetentionError(
                    f"table {plan.name!r}: the policy keeps ciphertext in "
                    f"{', '.join(encrypted)} but nulls key_version"
                )
            self.reencrypt = tuple(
                c for c in plan.columns if _is_encrypted(plan, c) and c not in self.strategies
            )
            self.sets_key_version = "key_version" in plan.columns
        self.encrypted = frozenset(encrypted)

    def select_list(self) -> str:
        """The columns ``anonymise_pick`` reads besides ctid, key and subject."""
        names = [*self.strategies, *self.reencrypt]
        if self.encrypted:
            names.append("id")
        return ", ".join(f"c.{quote(name)} AS {quote('m_' + name)}" for name in names)

    def sets(self) -> str:
        """The ``SET`` list of ``anonymise_row`` (``$1`` is the ctid)."""
        sets: list[str] = []
        position = 2
        for column, strategy in self.strategies.items():
            if strategy is None:
                sets.append(f"{quote(column)} = NULL")
                continue
            cast = "bytea" if column in self.encrypted else f"text::{self.plan.columns[column]}"
            sets.append(f"{quote(column)} = ${position}::{cast}")
            position += 1
        for column in self.reencrypt:
            sets.append(f"{quote(column)} = ${position}::bytea")
            position += 1
        if self.sets_key_version:
            sets.append(f"{quote('key_version')} = ${position}::integer")
        if self.plan.bookkeeping:
            sets.append(self.plan.bookkeeping)
        return ", ".join(sets)

    def row_arguments(self, row: Any) -> Sequence[object]:
        """The arguments of ``anonymise_row`` for one picked row."""
        table = self.plan.name
        row_id = str(row["m_id"]) if self.encrypted else ""
        arguments: list[object] = [row["tid"]]
        for column, strategy in self.strategies.items():
            if strategy is None:
                continue
            value = row[f"m_{column}"]
            if column in self.encrypted:
                arguments.append(self._mask_encrypted(strategy, column, value, row_id))
            else:
                masked = self._mask(strategy, value)
                arguments.append(None if masked is None else str(masked))
        cipher = self.cipher
        for column in self.reencrypt:
            value = row[f"m_{column}"]
            assert cipher is not None  # checked in __init__
            arguments.append(
                None
                if value is None
                else cipher.reencrypt(bytes(value), table=table, column=column, row_id=row_id)
            )
        if self.sets_key_version:
            assert cipher is not None
            arguments.append(cipher.primary_version)
        return arguments

    def _mask(self, strategy: MaskingStrategy[Any], value: object) -> object:
        if isinstance(strategy, GeneraliseDateStrategy) and strategy.config.as_of is None:
            return strategy.mask(value, as_of=self.today)
        return strategy.mask(value)

    def _mask_encrypted(
        self, strategy: MaskingStrategy[Any], column: str, value: object, row_id: str
    ) -> bytes | None:
        if value is None:
            return None
        cipher = self.cipher
        assert cipher is not None
        table = self.plan.name
        if not isinstance(value, bytes | bytearray | memoryview):
            raise RetentionError(f"{table}.{column} holds {type(value).__name__}, not ciphertext")
        plain = cipher.decrypt_text(bytes(value), table=table, column=column, row_id=row_id)
        masked = self._mask(strategy, plain)
        if masked is None:
            return None
        return cipher.encrypt(str(masked), table=table, column=column, row_id=row_id)
