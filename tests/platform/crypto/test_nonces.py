"""Nonces drawn in blocks are never handed out twice: across blocks, threads and forks."""

from __future__ import annotations

import os
import threading
import warnings

import pytest

from examstutor_platform.crypto.nonces import NONCE_BYTES, nonce


def test_nonces_are_twelve_fresh_bytes_across_many_blocks() -> None:
    drawn = [nonce() for _ in range(20_000)]  # about 59 blocks
    assert {len(n) for n in drawn} == {NONCE_BYTES}
    assert len(set(drawn)) == len(drawn)


def test_threads_emptying_blocks_at_once_never_share_a_nonce() -> None:
    results: list[list[bytes]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def draw(out: list[bytes]) -> None:
        start.wait()
        for _ in range(5_000):
            out.append(nonce())

    threads = [threading.Thread(target=draw, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    drawn = [n for out in results for n in out]
    assert len(drawn) == 40_000
    assert len(set(drawn)) == len(drawn)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_reuses_its_parents_block() -> None:
    nonce()  # the parent holds a block with nonces left in it
    read, write = os.pipe()
    with warnings.catch_warnings():  # 3.12+ warns of fork in a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: its next nonces, then exit without pytest's teardown
        try:
            os.close(read)
            os.write(write, b"".join(nonce() for _ in range(50)))
        finally:
            os._exit(0)
    os.close(write)
    child = b""
    while chunk := os.read(read, 4096):
        child += chunk
    os.close(read)
    os.waitpid(pid, 0)
    parent = {nonce() for _ in range(50)}
    children = {child[i : i + NONCE_BYTES] for i in range(0, len(child), NONCE_BYTES)}
    assert len(children) == 50
    assert not parent & children
