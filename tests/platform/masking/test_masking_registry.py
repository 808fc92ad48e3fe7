"""The strategy registry: one list of names, helpful errors for unknown names and bad options."""

from __future__ import annotations

import pytest

from examstutor_platform.errors import MaskingError, UnknownStrategyError
from examstutor_platform.masking import STRATEGIES, MaskingStrategy, get_strategy, strategy_names

NAMES = ("null", "redact", "hmac_pseudonym", "generalise_date", "truncate_ip", "random_string")


def test_registry_lists_every_strategy_under_its_own_name() -> None:
    assert strategy_names() == NAMES
    for name, cls in STRATEGIES.items():
        assert cls.name == name
        assert issubclass(cls, MaskingStrategy)
        assert cls.__doc__ and "\n" not in cls.__doc__.strip()


@pytest.mark.parametrize("name", ["scramble", "NULL", "", "hmac-pseudonym"])
def test_unknown_name_lists_the_valid_ones(name: str) -> None:
    with pytest.raises(UnknownStrategyError) as caught:
        get_strategy(name)
    assert str(caught.value) == (
        f"unknown masking strategy {name!r}; valid: null, redact, hmac_pseudonym, "
        "generalise_date, truncate_ip, random_string"
    )
    assert isinstance(caught.value, MaskingError)


def test_unknown_option_names_the_field_and_the_valid_ones() -> None:
    with pytest.raises(MaskingError) as caught:
        get_strategy("redact", replacment="x")
    assert str(caught.value) == (
        "masking strategy 'redact' has no config field 'replacment' (fields: replacement)"
    )
    with pytest.raises(MaskingError, match=r"'null' has no config field 'x' \(fields: none\)"):
        get_strategy("null", x=1)


def test_wrong_type_names_strategy_and_field() -> None:
    with pytest.raises(MaskingError) as caught:
        get_strategy("redact", replacement=5)
    assert str(caught.value) == (
        "masking strategy 'redact': config field 'replacement' must be text, got int"
    )


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        STRATEGIES["mine"] = STRATEGIES["null"]  # type: ignore[index]
