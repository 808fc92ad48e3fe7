"""Known answers for every masking strategy, and the errors their configs raise."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import string
import uuid
from datetime import UTC, date, datetime

import pytest

from examstutor_platform.errors import MaskingError
from examstutor_platform.masking import (
    AGE_BANDS,
    GeneraliseDateStrategy,
    HmacPseudonymConfig,
    HmacPseudonymStrategy,
    NullStrategy,
    RedactConfig,
    RedactStrategy,
    get_strategy,
)
from examstutor_platform.secrets import Secret

KEY = bytes(range(32))
AS_OF = date(2026, 6, 1)


# null ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["adaeze@example.ng", 42, b"\x00", date(2009, 9, 14), None])
def test_null(value: object) -> None:
    assert get_strategy("null").mask(value) is None


# redact -------------------------------------------------------------------------------------


def test_redact_default_and_custom() -> None:
    assert get_strategy("redact").mask("Tunde Bakare") == "[redacted]"
    assert get_strategy("redact").mask(12345) == "[redacted]"
    assert get_strategy("redact", replacement="***").mask("Tunde Bakare") == "***"
    assert get_strategy("redact", replacement="").mask("x") == ""
    assert get_strategy("redact").mask(None) is None
    assert RedactStrategy(RedactConfig("gone")).mask("x") == "gone"


# hmac_pseudonym -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "student@examstutor.ng",
            "e98df61d30fddc7c9a749a987514f0dec2df0859b4c308f2aff652b45799b06b",
        ),
        (
            b"student@examstutor.ng",
            "e98df61d30fddc7c9a749a987514f0dec2df0859b4c308f2aff652b45799b06b",
        ),
        (
            uuid.UUID("3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
            "b7c41583510895c31b63d59cb9a02d2b23c45339a0449ce920c8229f382bfb48",
        ),
        (12345, "36e295174c2947fbba5ff2d280b635a4b2eaa3106e07c7f1f3d2b72cba861447"),
    ],
)
def test_hmac_pseudonym_known_answers(value: object, expected: str) -> None:
    message = value if isinstance(value, bytes) else str(value).encode()
    assert hmac.new(KEY, message, hashlib.sha256).hexdigest() == expected
    assert get_strategy("hmac_pseudonym", key=Secret(KEY)).mask(value) == expected
    assert get_strategy("hmac_pseudonym", key=Secret(KEY), length=16).mask(value) == expected[:16]


def test_hmac_pseudonym_depends_on_key() -> None:
    one = get_strategy("hmac_pseudonym", key=Secret(KEY)).mask("x")
    other = get_strategy("hmac_pseudonym", key=Secret(bytes(32))).mask("x")
    assert one != other
    assert HmacPseudonymStrategy(HmacPseudonymConfig(Secret(KEY))).mask("x") == one


@pytest.mark.parametrize("value", [1.5, True, ["a"], date(2020, 1, 1)])
def test_hmac_pseudonym_refuses_other_types(value: object) -> None:
    with pytest.raises(MaskingError, match="hmac_pseudonym masks"):
        get_strategy("hmac_pseudonym", key=Secret(KEY)).mask(value)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "'key' is required"),
        ({"key": KEY}, "'key' must be a Secret"),
        ({"key": Secret(b"short")}, "'key' must be at least 32 bytes"),
        ({"key": Secret(KEY), "length": 4}, "'length' must be from 8 to 64"),
        ({"key": Secret(KEY), "length": 65}, "'length' must be from 8 to 64"),
        ({"key": Secret(KEY), "length": "16"}, "'length' must be an integer"),
    ],
)
def test_hmac_pseudonym_bad_config(config: dict[str, object], field: str) -> None:
    with pytest.raises(MaskingError, match=f"^masking strategy 'hmac_pseudonym'.*{field}"):
        get_strategy("hmac_pseudonym", **config)


def test_hmac_pseudonym_repr_hides_the_key() -> None:
    shown = repr(get_strategy("hmac_pseudonym", key=Secret(KEY), length=12))
    assert shown == (
        "HmacPseudonymStrategy(HmacPseudonymConfig(key=Secret('**********'), length=12))"
    )


# generalise_date ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [date(2009, 9, 14), datetime(2009, 9, 14, 23, 59, tzinfo=UTC), "2009-09-14", " 2009-09-14 "],
)
def test_generalise_date_year(value: object) -> None:
    assert get_strategy("generalise_date").mask(value) == 2009
    assert get_strategy("generalise_date", granularity="year").mask(value) == 2009


@pytest.mark.parametrize(
    ("born", "band"),
    [
        (date(2026, 6, 1), "under_13"),  # born today: age 0
        (date(2013, 6, 2), "under_13"),  # 12, thirteen tomorrow
        (date(2013, 6, 1), "13-15"),
        (date(2010, 6, 2), "13-15"),  # 15
        (date(2010, 6, 1), "16-17"),
        (date(2008, 6, 2), "16-17"),  # 17
        (date(2008, 6, 1), "18-24"),
        (date(2001, 6, 2), "18-24"),  # 24
        (date(2001, 6, 1), "25+"),
        (date(1950, 1, 1), "25+"),
    ],
)
def test_generalise_date_age_band_known_answers(born: date, band: str) -> None:
    by_config = get_strategy("generalise_date", granularity="age_band", as_of=AS_OF)
    assert by_config.mask(born) == band
    assert by_config.mask(born.isoformat()) == band
    by_call = GeneraliseDateStrategy.from_config(granularity="age_band")
    assert by_call.mask(born, as_of=AS_OF) == band


def test_generalise_date_leap_day_birthday() -> None:
    strategy = GeneraliseDateStrategy.from_config(granularity="age_band")
    assert strategy.mask(date(2008, 2, 29), as_of=date(2026, 2, 28)) == "16-17"
    assert strategy.mask(date(2008, 2, 29), as_of=date(2026, 3, 1)) == "18-24"


def test_generalise_date_as_of_text_and_call_override() -> None:
    strategy = get_strategy("generalise_date", granularity="age_band", as_of="2020-06-01")
    assert strategy.mask(date(2005, 6, 1)) == "13-15"
    assert isinstance(strategy, GeneraliseDateStrategy)
    assert strategy.mask(date(2005, 6, 1), as_of=AS_OF) == "18-24"


def test_generalise_date_without_as_of_uses_today() -> None:
    strategy = get_strategy("generalise_date", granularity="age_band")
    assert strategy.mask(date(1900, 1, 1)) == "25+"


def test_age_bands_are_ordered() -> None:
    assert [band for band, _ in AGE_BANDS] == ["under_13", "13-15", "16-17", "18-24", "25+"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("14/09/2009", "not an ISO date"),
        (20090914, "must be a date or ISO date text"),
        (date(2027, 1, 1), "after as_of"),
    ],
)
def test_generalise_date_bad_values(value: object, message: str) -> None:
    strategy = get_strategy("generalise_date", granularity="age_band", as_of=AS_OF)
    with pytest.raises(MaskingError, match=message):
        strategy.mask(value)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"granularity": "month"}, "'granularity' must be 'year' or 'age_band'"),
        ({"as_of": "yesterday"}, "'as_of' is not an ISO date"),
        ({"as_of": 2026}, "'as_of' must be a date"),
    ],
)
def test_generalise_date_bad_config(config: dict[str, object], field: str) -> None:
    pattern = f"^masking strategy 'generalise_date': config field {field}"
    with pytest.raises(MaskingError, match=pattern):
        get_strategy("generalise_date", **config)


# truncate_ip --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("192.168.1.77", "192.168.1.0/24"),
        ("10.0.0.1", "10.0.0.0/24"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("2001:0db8:abcd:ffff:ffff:ffff:ffff:ffff", "2001:db8:abcd::/48"),
        ("::ffff:102.89.34.5", "102.89.34.0/24"),  # IPv4-mapped: treated as IPv4
        ("fe80::1%eth0", "fe80::/48"),
        (ipaddress.ip_address("41.58.1.200"), "41.58.1.0/24"),
        (" 197.210.5.9 ", "197.210.5.0/24"),
    ],
)
def test_truncate_ip_known_answers(value: object, expected: str) -> None:
    assert get_strategy("truncate_ip").mask(value) == expected


def test_truncate_ip_custom_prefixes() -> None:
    strategy = get_strategy("truncate_ip", ipv4_prefix=16, ipv6_prefix=32)
    assert strategy.mask("192.168.1.77") == "192.168.0.0/16"
    assert strategy.mask("2001:db8:abcd:12::1") == "2001:db8::/32"


@pytest.mark.parametrize("value", ["999.1.1.1", "not-an-ip", "", "192.168.1.0/24", 3232235777])
def test_truncate_ip_invalid(value: object) -> None:
    with pytest.raises(MaskingError, match="truncate_ip") as caught:
        get_strategy("truncate_ip").mask(value)
    if isinstance(value, str) and value:
        assert value not in str(caught.value)


@pytest.mark.parametrize(
    ("config", "field"),
    [({"ipv4_prefix": 33}, "'ipv4_prefix'"), ({"ipv6_prefix": -1}, "'ipv6_prefix'")],
)
def test_truncate_ip_bad_config(config: dict[str, object], field: str) -> None:
    with pytest.raises(MaskingError, match=f"config field {field}"):
        get_strategy("truncate_ip", **config)


# random_string ------------------------------------------------------------------------------


def test_random_string_shape() -> None:
    default = get_strategy("random_string")
    values = {default.mask("Tunde Bakare") for _ in range(50)}
    assert len(values) == 50
    alphabet = set(string.ascii_letters + string.digits)
    for value in values:
        assert isinstance(value, str) and len(value) == 16 and set(value) <= alphabet
    short = get_strategy("random_string", length=40, alphabet="ab")
    value = short.mask("x")
    assert isinstance(value, str) and len(value) == 40 and set(value) <= {"a", "b"}
    assert short.mask(None) is None


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"length": 0}, "'length' must be from 1 to 1024"),
        ({"length": True}, "'length' must be an integer, got bool"),
        ({"alphabet": ""}, "'alphabet' must not be empty"),
        ({"alphabet": "aaaa"}, "'alphabet' needs at least two distinct"),
    ],
)
def test_random_string_bad_config(config: dict[str, object], field: str) -> None:
    pattern = f"^masking strategy 'random_string': config field {field}"
    with pytest.raises(MaskingError, match=pattern):
        get_strategy("random_string", **config)


# the base class -----------------------------------------------------------------------------


def test_strategy_takes_its_own_config_type() -> None:
    with pytest.raises(TypeError, match="takes a RedactConfig"):
        RedactStrategy(HmacPseudonymConfig(Secret(KEY)))  # type: ignore[arg-type]
    assert repr(NullStrategy.from_config()) == "NullStrategy(NoConfig())"
