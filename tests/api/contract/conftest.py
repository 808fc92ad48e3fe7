"""A populated world for the contract tests (see ``examstutor_contract``)."""

from __future__ import annotations

import pytest
from examstutor_contract import World, build_world
from examstutor_testing import LiveApi


@pytest.fixture
async def world(api: LiveApi) -> World:
    """Students A and B, staff of each role, and A's data in every table."""
    return await build_world(api)
