"""mask_email: the display form of an address, and what it does with odd input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from examstutor_platform.masking import mask_email


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("student@examstutor.ng", "s*****@e***.ng"),
        ("a@examstutor.ng", "a*****@e***.ng"),
        ("very.long.local.part+tag@examstutor.ng", "v*****@e***.ng"),
        ("Student@ExamsTutor.NG", "S*****@E***.NG"),
        ("x@mail.examstutor.com.ng", "x*****@m***.ng"),
        ("  student@examstutor.ng\n", "s*****@e***.ng"),
        ("ọlá@examstutor.ng", "ọ*****@e***.ng"),
    ],
)
def test_mask_email(email: str, masked: str) -> None:
    assert mask_email(email) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        (None, ""),
        ("", ""),
        ("   ", ""),
        ("student", "s*****"),
        ("@examstutor.ng", "*****@e***.ng"),
        ("a@localhost", "a*****@l***"),
        ("a@", "a*****@***"),
        ("a@.", "a*****@***"),
        ("a@examstutor.ng.", "a*****@e***.ng"),
        ("a@b@examstutor.ng", "a*****@e***.ng"),
        ("@", "*****@***"),
    ],
)
def test_mask_email_odd_input(value: str | None, masked: str) -> None:
    assert mask_email(value) == masked


@settings(deadline=None, database=None)
@given(text=st.text(max_size=60))
def test_mask_email_never_fails(text: str) -> None:
    assert isinstance(mask_email(text), str)


@settings(deadline=None, database=None)
@given(
    local=st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=30),
    domain=st.text(st.characters(categories=["L", "N"], include_characters="."), max_size=30),
)
def test_mask_email_shows_one_character_of_the_local_part(local: str, domain: str) -> None:
    shown_local, at, _ = mask_email(f"{local}@{domain}").partition("@")
    assert at == "@"
    assert shown_local == local[0] + "*****"
