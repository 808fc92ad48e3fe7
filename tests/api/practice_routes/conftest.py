"""Signed-in students and staff for these tests (see ``examstutor_accounts``)."""

from __future__ import annotations

import pytest
from examstutor_accounts import Accounts
from examstutor_testing import LiveApi


@pytest.fixture
def accounts(api: LiveApi) -> Accounts:
    return Accounts(api)
