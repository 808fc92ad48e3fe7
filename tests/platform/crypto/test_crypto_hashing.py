"""Blind indexes and pseudonyms: known answers, normalisation, format, and key separation."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from examstutor_platform.audit.events import AuditEvent
from examstutor_platform.crypto import BlindIndex, Pseudonymiser, normalise_email
from examstutor_platform.errors import ConfigurationError
from examstutor_platform.secrets import Secret

INDEX_KEY = bytes(range(32))
PSEUDONYM_KEY = bytes(range(32, 64))
STUDENT_ID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
AUDIT_PSEUDONYM = re.compile(r"^[A-Za-z0-9_:.-]{1,128}$")


def test_blind_index_known_answer() -> None:
    index = BlindIndex(Secret(INDEX_KEY))
    expected = bytes.fromhex("e98df61d30fddc7c9a749a987514f0dec2df0859b4c308f2aff652b45799b06b")
    assert expected == hmac.new(INDEX_KEY, b"student@examstutor.ng", hashlib.sha256).digest()
    assert index.email("student@examstutor.ng") == expected
    assert index.email("  Student@ExamsTutor.NG \n") == expected


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("ADAEZE@Example.ng", "adaeze@example.ng"),
        ("chukwuemeka.o\u0323kafo\u0323r@example.ng", "chukwuemeka.\u1ecdkaf\u1ecdr@example.ng"),
        ("JOSÉ@example.ng", "jose\u0301@example.ng"),
        ("STRASSE@example.de", "straße@example.de"),
        ("\tngozi@example.ng  ", "ngozi@example.ng"),
    ],
)
def test_blind_index_normalises(one: str, other: str) -> None:
    index = BlindIndex(Secret(INDEX_KEY))
    assert index.email(one) == index.email(other)
    assert normalise_email(one) == normalise_email(other)


def test_normalised_form_is_nfc_casefolded() -> None:
    assert normalise_email(" JOSE\u0301@Example.NG ") == "jos\u00e9@example.ng"


def test_blind_index_depends_on_key_and_value() -> None:
    a = BlindIndex(Secret(INDEX_KEY))
    b = BlindIndex(Secret(bytes(32)))
    assert a.email("x@example.ng") != b.email("x@example.ng")
    assert a.email("x@example.ng") != a.email("y@example.ng")
    assert len(a.email("x@example.ng")) == 32


def test_pseudonym_known_answer_and_format() -> None:
    pseudonyms = Pseudonymiser(Secret(PSEUDONYM_KEY))
    digest = hmac.new(PSEUDONYM_KEY, b"student\x00" + STUDENT_ID.encode(), hashlib.sha256)
    assert pseudonyms.pseudonym("student", STUDENT_ID) == "stu_" + digest.hexdigest()[:32]
    assert pseudonyms.pseudonym("student", STUDENT_ID) == "stu_69cf5edbe0948a9b3383dd8ff3847514"
    assert pseudonyms.pseudonym("staff", STUDENT_ID).startswith("stf_")
    assert pseudonyms.pseudonym("guardian", "mrs.okonkwo@example.ng").startswith("grd_")
    assert re.fullmatch(r"system_[0-9a-f]{32}", pseudonyms.pseudonym("system", "retention"))


def test_pseudonym_is_stable_and_kind_separated() -> None:
    one = Pseudonymiser(Secret(PSEUDONYM_KEY))
    two = Pseudonymiser(Secret(PSEUDONYM_KEY))
    other_key = Pseudonymiser(Secret(bytes(32)))
    assert one.pseudonym("student", "a") == two.pseudonym("student", "a")
    assert one.pseudonym("student", "a")[4:] != one.pseudonym("staff", "a")[4:]
    assert one.pseudonym("student", "a") != other_key.pseudonym("student", "a")


@settings(deadline=None, database=None)
@given(
    kind=st.sampled_from(["student", "staff", "guardian", "ip", "device7"]),
    value=st.text(max_size=200),
)
def test_every_pseudonym_fits_the_audit_log(kind: str, value: str) -> None:
    pseudonym = Pseudonymiser(Secret(PSEUDONYM_KEY)).pseudonym(kind, value)
    assert AUDIT_PSEUDONYM.match(pseudonym)
    event = AuditEvent(
        actor_pseudonym=pseudonym,
        actor_role="student",
        action="data.read",
        resource="student_profile",
        outcome="success",
    )
    assert event.actor_pseudonym == pseudonym


@settings(deadline=None, database=None)
@given(
    key=st.binary(min_size=32, max_size=130),
    kind=st.sampled_from(["student", "staff", "guardian", "ip", "device7"]),
    values=st.lists(st.text(max_size=80), max_size=5),
)
def test_pseudonyms_are_hmac_sha256_one_by_one_or_in_bulk(
    key: bytes, kind: str, values: list[str]
) -> None:
    """The prepared-pad HMAC equals the standard library's, for keys shorter and longer
    than SHA-256's block, and the bulk call equals one call per value."""
    pseudonymiser = Pseudonymiser(Secret(key))
    prefix = {"student": "stu", "staff": "stf", "guardian": "grd"}.get(kind, kind)
    expected = [
        f"{prefix}_"
        + hmac.new(key, kind.encode() + b"\x00" + value.encode(), hashlib.sha256)
        .digest()[:16]
        .hex()
        for value in values
    ]
    assert [pseudonymiser.pseudonym(kind, value) for value in values] == expected
    assert list(pseudonymiser.pseudonyms(kind, values)) == expected


@pytest.mark.parametrize("kind", ["", "Student", "stu", "stf", "has space", "x" * 17, "9lives"])
def test_pseudonym_refuses_bad_kinds(kind: str) -> None:
    with pytest.raises(ValueError, match="pseudonym kind"):
        Pseudonymiser(Secret(PSEUDONYM_KEY)).pseudonym(kind, "v")


def test_short_keys_are_refused_and_reprs_hide_keys() -> None:
    with pytest.raises(ConfigurationError, match="at least 32"):
        BlindIndex(Secret(b"short"))
    with pytest.raises(ConfigurationError, match="at least 32"):
        Pseudonymiser(Secret(b"short"))
    with pytest.raises(TypeError):
        BlindIndex(INDEX_KEY)  # type: ignore[arg-type]
    shown = repr(BlindIndex(Secret(INDEX_KEY))) + repr(Pseudonymiser(Secret(PSEUDONYM_KEY)))
    assert "**********" in shown
    assert INDEX_KEY.hex() not in shown and PSEUDONYM_KEY.hex() not in shown
