"""Retention: the policy (categories, periods, actions on expiry) and its cutoffs."""

from __future__ import annotations

from examstutor_platform.retention.policy import (
    ACTIONS,
    SHIPPED_SOURCE,
    STRATEGY_NAMES,
    Action,
    Category,
    ColumnRule,
    Duration,
    ParamValue,
    RetentionPolicy,
    TableRule,
    cutoff,
    load_policy,
    parse_policy,
)

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
