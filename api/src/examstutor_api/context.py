"""What every request handler reaches through ``request.app.ctx``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg

from examstutor_api.auth.tokens import TokenIssuer
from examstutor_api.metrics import Metrics
from examstutor_platform.audit.writer import AuditWriter
from examstutor_platform.crypto import BlindIndex, DataKeyStore, FieldCipher, Pseudonymiser
from examstutor_platform.errors import ConfigurationError
from examstutor_platform.settings import Settings

__all__ = ["AppContext"]


@dataclass
class AppContext:
    """Per-worker state: the pool, the audit writer, the cipher and the keyed hashes."""

    settings: Settings
    index: BlindIndex
    pseudonyms: Pseudonymiser
    metrics: Metrics
    password_slots: asyncio.Semaphore
    _pool: asyncpg.Pool | None = None
    _writer: AuditWriter | None = None
    _cipher: FieldCipher | None = None
    tokens: TokenIssuer | None = None
    writer_pool: asyncpg.Pool | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, password_concurrency: int) -> AppContext:
        """The context before the pool exists (filled in by the start listener)."""
        return cls(
            settings=settings,
            index=BlindIndex(settings.index_key),
            pseudonyms=Pseudonymiser(settings.pseudonym_key),
            metrics=Metrics(),
            password_slots=asyncio.Semaphore(password_concurrency),
        )

    @property
    def pool(self) -> asyncpg.Pool:
        """The worker's connection pool."""
        if self._pool is None:
            raise ConfigurationError("the database pool is not open")
        return self._pool

    @property
    def writer(self) -> AuditWriter:
        """The worker's group-commit audit writer."""
        if self._writer is None:
            raise ConfigurationError("the audit writer is not running")
        return self._writer

    @property
    def cipher(self) -> FieldCipher:
        """Field encryption with the current key ring."""
        if self._cipher is None:
            raise ConfigurationError("the key ring is not loaded")
        return self._cipher

    async def load_keyring(self) -> None:
        """(Re)load the data keys, so a rotation's new primary is used for new writes."""
        async with self.pool.acquire() as conn:
            ring = await DataKeyStore().load(conn, self.settings.keks)
        if self._cipher is None or (ring.primary, ring.versions) != (
            self._cipher.keyring.primary,
            self._cipher.keyring.versions,
        ):
            self._cipher = FieldCipher(ring)
