"""The retention policy: which data is kept how long, and what happens when it expires.

The policy is data, not code: one TOML file (``policy.toml`` beside this module,
or any file given to :func:`load_policy`) lists each data category with its
tables, the timestamp column each table's clock runs from, the period, the
legal basis and the action on expiry (``delete``, ``anonymise`` with a masking
strategy per column, or ``drop_partition``). The SHA-256 of the file's exact
bytes is the policy :attr:`~RetentionPolicy.version` that every deletion
certificate records. ``policy.toml`` documents the format in its header.

Validation is strict: an unknown key, a malformed period or an unknown masking
strategy is a :class:`~examstutor_platform.errors.PolicyError` whose message
names the file, the category and the field.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, NoReturn

from examstutor_platform.errors import PolicyError
from examstutor_platform.masking.registry import strategy_names

__all__ = [
    "ACTIONS",
    "SHIPPED_SOURCE",
    "STRATEGY_NAMES",
    "Action",
    "Category",
    "ColumnRule",
    "Duration",
    "ParamValue",
    "RetentionPolicy",
    "TableRule",
    "cutoff",
    "load_policy",
    "parse_policy",
]

Action = Literal["delete", "anonymise", "drop_partition"]
ACTIONS: Final[tuple[Action, ...]] = ("delete", "anonymise", "drop_partition")

#: masking strategy names a column may use: the masking registry's
STRATEGY_NAMES: Final[tuple[str, ...]] = strategy_names()

#: the ``source`` of the policy shipped with the package
SHIPPED_SOURCE: Final = "examstutor_platform/retention/policy.toml"

ParamValue = str | int | float | bool

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_DURATION = re.compile(r"^P(?!$)(?:(\d{1,5})Y)?(?:(\d{1,5})M)?(?:(\d{1,5})D)?(?:T(\d{1,5})H)?$")
_TOP_KEYS = ("categories",)
_CATEGORY_KEYS = ("action", "legal_basis", "period", "tables")
_TABLE_KEYS = ("clock", "columns", "name", "subject_column")
_STRATEGY_KEYS = ("params", "strategy")


@dataclass(frozen=True, slots=True)
class Duration:
    """A retention period: calendar years and months, then days and hours."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    def __post_init__(self) -> None:
        parts = (self.years, self.months, self.days, self.hours)
        if any(part < 0 for part in parts):
            raise ValueError("a duration has no negative parts")
        if not any(parts):
            raise ValueError("a duration must be longer than zero")

    @classmethod
    def parse(cls, text: str) -> Duration:
        """``P2Y``, ``P18M``, ``P30D``, ``PT24H``, ``P1Y2M3DT4H``; ``ValueError`` otherwise."""
        match = _DURATION.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not a duration like P30D (nY, nM, nD, TnH)")
        years, months, days, hours = (int(group or 0) for group in match.groups())
        try:
            return cls(years, months, days, hours)
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None

    def __str__(self) -> str:
        text = "P"
        for value, unit in ((self.years, "Y"), (self.months, "M"), (self.days, "D")):
            if value:
                text += f"{value}{unit}"
        if self.hours:
            text += f"T{self.hours}H"
        return text

    def describe(self) -> str:
        """Words for people: ``2 years``, ``30 days``, ``1 year 6 months``."""
        words = []
        for value, unit in (
            (self.years, "year"),
            (self.months, "month"),
            (self.days, "day"),
            (self.hours, "hour"),
        ):
            if value:
                words.append(f"{value} {unit}{'' if value == 1 else 's'}")
        return " ".join(words)

    def before(self, at: datetime) -> datetime:
        """``at`` minus this duration, in UTC.

        Years and months move the calendar date (the day is clamped to the
        month's length: 2024-02-29 minus P1Y is 2023-02-28), then days and
        hours are subtracted as elapsed time. ``at`` must be timezone-aware.
        """
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("a retention cutoff needs a timezone-aware datetime")
        moment = at.astimezone(UTC)
        if self.years or self.months:
            index = moment.year * 12 + moment.month - 1 - (self.years * 12 + self.months)
            year, month0 = divmod(index, 12)
            if year < 1:
                raise ValueError(f"{self} before {at.isoformat()} is before year 1")
            day = min(moment.day, calendar.monthrange(year, month0 + 1)[1])
            moment = moment.replace(year=year, month=month0 + 1, day=day)
        return moment - timedelta(days=self.days, hours=self.hours)


@dataclass(frozen=True, slots=True)
class ColumnRule:
    """How one column is masked when its row is anonymised."""

    column: str
    strategy: str
    params: tuple[tuple[str, ParamValue], ...] = ()

    @property
    def options(self) -> dict[str, ParamValue]:
        """The strategy's parameters as a dict."""
        return dict(self.params)


@dataclass(frozen=True, slots=True)
class TableRule:
    """One table of a category: its clock column, subject column and (anonymise) columns."""

    name: str
    clock: str
    subject_column: str | None = None
    columns: tuple[ColumnRule, ...] = ()

    @property
    def qualified_clock(self) -> str:
        """``table.column`` of the clock."""
        return f"{self.name}.{self.clock}"


@dataclass(frozen=True, slots=True)
class Category:
    """A data category: tables, period, legal basis and the action on expiry."""

    name: str
    period: Duration
    legal_basis: str
    action: Action
    tables: tuple[TableRule, ...]

    def cutoff(self, at: datetime) -> datetime:
        """Rows whose clock is before this moment are past retention at ``at``."""
        return self.period.before(at)

    def table(self, name: str) -> TableRule:
        """The rule for table ``name``; ``KeyError`` if the category does not cover it."""
        for rule in self.tables:
            if rule.name == name:
                return rule
        raise KeyError(f"category {self.name!r} covers no table {name!r}")


@dataclass(frozen=True)
class RetentionPolicy:
    """The parsed policy: categories by name, its version (SHA-256) and where it came from."""

    categories: Mapping[str, Category]
    version: str
    source: str

    def __hash__(self) -> int:
        return hash(self.version)

    def category(self, name: str) -> Category:
        """The category called ``name``; :class:`PolicyError` listing the names otherwise."""
        try:
            return self.categories[name]
        except KeyError:
            raise PolicyError(
                f"{self.source}: no category {name!r}; categories: {', '.join(self.categories)}"
            ) from None

    def names(self) -> tuple[str, ...]:
        """Every category name, in file order."""
        return tuple(self.categories)

    def categories_with(self, *actions: Action) -> tuple[str, ...]:
        """Names of the categories whose action is one of ``actions``, in file order."""
        return tuple(name for name, cat in self.categories.items() if cat.action in actions)

    def delete_categories(self) -> tuple[str, ...]:
        """Categories whose rows are deleted on expiry (``retention_expiry`` partitions)."""
        return self.categories_with("delete")

    def anonymise_categories(self) -> tuple[str, ...]:
        """Categories whose rows are anonymised on expiry (``anonymised_records`` partitions)."""
        return self.categories_with("anonymise")

    def drop_partition_categories(self) -> tuple[str, ...]:
        """Categories expired by dropping whole partitions (the audit log)."""
        return self.categories_with("drop_partition")

    def as_table(self) -> list[dict[str, str]]:
        """One row of text per category, for display (Dagster table metadata, README)."""
        rows = []
        for cat in self.categories.values():
            masking = "; ".join(
                f"{table.name}.{rule.column}: {rule.strategy}"
                for table in cat.tables
                for rule in table.columns
            )
            rows.append(
                {
                    "category": cat.name,
                    "tables": ", ".join(table.name for table in cat.tables),
                    "clock": ", ".join(table.qualified_clock for table in cat.tables),
                    "period": str(cat.period),
                    "kept_for": cat.period.describe(),
                    "legal_basis": cat.legal_basis,
                    "action": cat.action,
                    "masking": masking,
                }
            )
        return rows


def cutoff(category: Category, at: datetime) -> datetime:
    """The moment before which ``category``'s rows are past retention at ``at`` (UTC)."""
    return category.cutoff(at)


def load_policy(path: Path | None = None) -> RetentionPolicy:
    """Read and validate the policy at ``path``, or the shipped ``policy.toml`` if None."""
    if path is None:
        data = (resources.files("examstutor_platform.retention") / "policy.toml").read_bytes()
        source = SHIPPED_SOURCE
    else:
        source = str(path)
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise PolicyError(f"{source}: cannot read the policy: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(f"{source}: the policy is not UTF-8 text") from None
    return parse_policy(text, source)


def parse_policy(text: str, source: str) -> RetentionPolicy:
    """Validate the policy ``text``; ``source`` names it in error messages."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from None
    for key in document:
        if key not in _TOP_KEYS:
            raise PolicyError(
                f"{source}: unknown top-level key {key!r}; allowed: {', '.join(_TOP_KEYS)}"
            )
    raw_categories = document.get("categories")
    if not isinstance(raw_categories, dict) or not raw_categories:
        raise PolicyError(f"{source}: no categories: add a [categories.NAME] table")
    categories: dict[str, Category] = {}
    owner: dict[str, str] = {}
    for name, body in raw_categories.items():
        category = _Reader(source, name).category(body)
        for table in category.tables:
            if table.name in owner:
                _Reader(source, name).fail(
                    "tables",
                    f"table {table.name!r} is already in category {owner[table.name]!r}",
                )
            owner[table.name] = name
        categories[name] = category
    version = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return RetentionPolicy(MappingProxyType(categories), version, source)


class _Reader:
    """Validates one category's TOML table, naming file and category in every error."""

    def __init__(self, source: str, category: str) -> None:
        self.source = source
        self.name = category

    def fail(self, field: str, message: str) -> NoReturn:
        raise PolicyError(f"{self.source}: category {self.name!r}: field {field!r}: {message}")

    def keys(self, body: Mapping[str, Any], allowed: Iterable[str], prefix: str) -> None:
        allowed = tuple(allowed)
        for key in body:
            if key not in allowed:
                self.fail(f"{prefix}{key}", f"unknown field; allowed: {', '.join(allowed)}")

    def text(self, body: Mapping[str, Any], key: str, field: str) -> str:
        if key not in body:
            self.fail(field, "missing")
        value = body[key]
        if not isinstance(value, str) or not value.strip():
            self.fail(field, f"{value!r} is not non-empty text")
        return value

    def identifier(self, body: Mapping[str, Any], key: str, field: str) -> str:
        value = self.text(body, key, field)
        if not _IDENTIFIER.match(value):
            self.fail(field, f"{value!r} is not a lower-case SQL identifier")
        return value

    def category(self, body: object) -> Category:
        if not _IDENTIFIER.match(self.name):
            self.fail("name", "a category name is a lower-case identifier like user_profile")
        if not isinstance(body, dict):
            self.fail("name", "a category is a table: [categories.NAME]")
        self.keys(body, _CATEGORY_KEYS, "")
        period_text = self.text(body, "period", "period")
        try:
            period = Duration.parse(period_text)
        except ValueError as exc:
            self.fail("period", str(exc))
        legal_basis = self.text(body, "legal_basis", "legal_basis")
        action = self.text(body, "action", "action")
        if action not in ACTIONS:
            self.fail("action", f"{action!r} is not one of {', '.join(ACTIONS)}")
        raw_tables = body.get("tables")
        if raw_tables is None:
            self.fail("tables", f"missing: add a [[categories.{self.name}.tables]] entry")
        if not isinstance(raw_tables, list) or not raw_tables:
            self.fail("tables", f"must be an array of tables [[categories.{self.name}.tables]]")
        tables: list[TableRule] = []
        for index, raw in enumerate(raw_tables):
            table = self.table(raw, f"tables[{index}].", action)
            if any(seen.name == table.name for seen in tables):
                self.fail(f"tables[{index}].name", f"table {table.name!r} is listed twice")
            tables.append(table)
        return Category(self.name, period, legal_basis, action, tuple(tables))

    def table(self, raw: object, prefix: str, action: Action) -> TableRule:
        if not isinstance(raw, dict):
            self.fail(prefix.rstrip("."), "a table entry is a table with name and clock")
        self.keys(raw, _TABLE_KEYS, prefix)
        name = self.identifier(raw, "name", f"{prefix}name")
        clock = self.identifier(raw, "clock", f"{prefix}clock")
        subject = (
            self.identifier(raw, "subject_column", f"{prefix}subject_column")
            if "subject_column" in raw
            else None
        )
        raw_columns = raw.get("columns")
        field = f"{prefix}columns"
        if action != "anonymise":
            if raw_columns is not None:
                self.fail(field, f"only an anonymise category masks columns, not {action}")
            return TableRule(name, clock, subject)
        if raw_columns is None:
            self.fail(field, "missing: anonymise needs a strategy for each column it masks")
        if not isinstance(raw_columns, dict) or not raw_columns:
            self.fail(field, "must be a non-empty table of column = strategy")
        columns = tuple(
            self.column(column, spec, f"{field}.{column}") for column, spec in raw_columns.items()
        )
        return TableRule(name, clock, subject, columns)

    def column(self, column: str, spec: object, field: str) -> ColumnRule:
        if not _IDENTIFIER.match(column):
            self.fail(field, f"{column!r} is not a lower-case SQL identifier")
        params: dict[str, Any] = {}
        if isinstance(spec, str):
            strategy = spec
        elif isinstance(spec, dict):
            self.keys(spec, _STRATEGY_KEYS, f"{field}.")
            strategy = self.text(spec, "strategy", f"{field}.strategy")
            raw_params = spec.get("params", {})
            if not isinstance(raw_params, dict):
                self.fail(f"{field}.params", "must be a table of name = value")
            params = raw_params
        else:
            self.fail(field, "must be a strategy name or { strategy = ..., params = {...} }")
        if strategy not in STRATEGY_NAMES:
            self.fail(
                field if isinstance(spec, str) else f"{field}.strategy",
                f"unknown masking strategy {strategy!r}; valid: {', '.join(STRATEGY_NAMES)}",
            )
        for key, value in params.items():
            if not _IDENTIFIER.match(key):
                self.fail(f"{field}.params.{key}", "a parameter name is a lower-case identifier")
            if not isinstance(value, str | int | float | bool):
                self.fail(f"{field}.params.{key}", "a parameter is text, a number or a boolean")
        return ColumnRule(column, strategy, tuple(sorted(params.items())))
