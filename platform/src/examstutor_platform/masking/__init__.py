"""Masking: strategies that anonymise stored values, and masked display forms."""

from __future__ import annotations

from examstutor_platform.masking.base import MaskingStrategy, NoConfig
from examstutor_platform.masking.display import mask_email
from examstutor_platform.masking.registry import STRATEGIES, get_strategy, strategy_names
from examstutor_platform.masking.strategies import (
    AGE_BANDS,
    GeneraliseDateConfig,
    GeneraliseDateStrategy,
    HmacPseudonymConfig,
    HmacPseudonymStrategy,
    NullStrategy,
    RandomStringConfig,
    RandomStringStrategy,
    RedactConfig,
    RedactStrategy,
    TruncateIpConfig,
    TruncateIpStrategy,
    age_band,
    age_on,
)

__all__ = [
    "AGE_BANDS",
    "STRATEGIES",
    "GeneraliseDateConfig",
    "GeneraliseDateStrategy",
    "HmacPseudonymConfig",
    "HmacPseudonymStrategy",
    "MaskingStrategy",
    "NoConfig",
    "NullStrategy",
    "RandomStringConfig",
    "RandomStringStrategy",
    "RedactConfig",
    "RedactStrategy",
    "TruncateIpConfig",
    "TruncateIpStrategy",
    "age_band",
    "age_on",
    "get_strategy",
    "mask_email",
    "strategy_names",
]
