"""KeyRing and DEK wrapping without a database: binding, wrong KEKs, and reprs that show no keys."""

from __future__ import annotations

import pickle

import pytest

from examstutor_platform.crypto import KeyRing, unwrap_data_key, wrap_data_key
from examstutor_platform.errors import KeyUnavailableError
from examstutor_platform.secrets import Secret
from examstutor_platform.settings import Kek

DEK = Secret(bytes(range(32)))
KEK_A = Kek("kek-a", Secret(b"\xaa" * 32))
KEK_B = Kek("kek-b", Secret(b"\xbb" * 32))


def test_wrap_round_trip_and_layout() -> None:
    wrapped = wrap_data_key(DEK, version=1, kek=KEK_A)
    assert len(wrapped) == 12 + 32 + 16
    assert DEK.reveal() not in wrapped
    assert unwrap_data_key(wrapped, version=1, kek=KEK_A) == DEK
    assert wrap_data_key(DEK, version=1, kek=KEK_A) != wrapped  # fresh nonce each time


def test_wrong_kek_material() -> None:
    wrapped = wrap_data_key(DEK, version=1, kek=KEK_A)
    impostor = Kek("kek-a", Secret(b"\xab" * 32))
    with pytest.raises(KeyUnavailableError, match=r"^cannot unwrap data key 1: ") as caught:
        unwrap_data_key(wrapped, version=1, kek=impostor)
    assert "authentication failed under KEK 'kek-a'" in str(caught.value)


def test_wrapped_key_is_bound_to_version_and_kek_id() -> None:
    wrapped = wrap_data_key(DEK, version=1, kek=KEK_A)
    with pytest.raises(KeyUnavailableError, match=r"^cannot unwrap data key 2: "):
        unwrap_data_key(wrapped, version=2, kek=KEK_A)
    relabelled = Kek("kek-z", KEK_A.key)
    with pytest.raises(KeyUnavailableError, match=r"^cannot unwrap data key 1: "):
        unwrap_data_key(wrapped, version=1, kek=relabelled)


def test_altered_or_cut_wrapped_key() -> None:
    wrapped = wrap_data_key(DEK, version=3, kek=KEK_A)
    for index in range(len(wrapped)):
        altered = bytearray(wrapped)
        altered[index] ^= 0x01
        with pytest.raises(KeyUnavailableError, match=r"^cannot unwrap data key 3: "):
            unwrap_data_key(bytes(altered), version=3, kek=KEK_A)
    with pytest.raises(KeyUnavailableError, match=r"^cannot unwrap data key 3: wrapped key is 59"):
        unwrap_data_key(wrapped[:-1], version=3, kek=KEK_A)


def test_keyring_lookup() -> None:
    ring = KeyRing({2: Secret(b"\x02" * 32), 1: Secret(b"\x01" * 32)}, primary=2)
    assert ring.primary == 2
    assert ring.versions == (1, 2)
    assert list(ring) == [1, 2]
    assert len(ring) == 2
    assert 1 in ring and 3 not in ring
    assert ring.key(1) == Secret(b"\x01" * 32)
    with pytest.raises(KeyUnavailableError, match="data key 3 is not in the key ring"):
        ring.key(3)


@pytest.mark.parametrize(
    ("keys", "primary", "message"),
    [
        ({1: Secret(b"\x01" * 16)}, 1, "Secret of 32 bytes"),
        ({0: Secret(b"\x01" * 32)}, 0, "outside"),
        ({1: Secret(b"\x01" * 32)}, 2, "primary data key 2 is not in the ring"),
    ],
)
def test_keyring_refuses_bad_keys(keys: dict[int, Secret], primary: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KeyRing(keys, primary)


def test_reprs_show_versions_never_key_bytes() -> None:
    material = [b"\x5a" * 32, bytes(range(100, 132))]
    ring = KeyRing({1: Secret(material[0]), 4: Secret(material[1])}, primary=4)
    shown = [repr(ring), str(ring), f"{ring}", repr(KEK_A), str(KEK_A), repr(DEK), f"{DEK}"]
    assert repr(ring) == "KeyRing(primary=4, versions=[1, 4])"
    assert repr(KEK_A) == "Kek(id='kek-a', key=Secret('**********'))"
    for raw in [*material, KEK_A.key.reveal(), DEK.reveal()]:
        for text in shown:
            assert raw.hex() not in text
            assert repr(raw)[2:-1] not in text


def test_keyring_and_secret_refuse_pickling() -> None:
    ring = KeyRing({1: Secret(b"\x01" * 32)}, primary=1)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(ring)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(DEK)
