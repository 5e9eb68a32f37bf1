"""Our safe-mode AES agrees with wechatpy's WeChatCrypto in both directions."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from bot.wechat.crypto import AppIdMismatch, DecryptError, MessageCipher

KEY = "YmVuY2hrZXkwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc"
APP = "wx1234567890abcdef"


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400))
def test_what_we_encrypt_wechatpy_decrypts_and_back(text: str) -> None:
    text = text.encode("utf-8", "ignore").decode("utf-8")
    ours = MessageCipher(KEY, APP)
    theirs = PrpCrypto(WeChatCrypto("tok", KEY, APP).key)
    decrypted = theirs.decrypt(ours.encrypt(text), APP)
    assert (decrypted.decode("utf-8") if isinstance(decrypted, bytes) else decrypted) == text
    encrypted = theirs.encrypt(text, APP)
    assert ours.decrypt(encrypted.decode() if isinstance(encrypted, bytes) else encrypted) == text.encode()


def test_a_message_for_another_app_id_is_refused() -> None:
    other = PrpCrypto(WeChatCrypto("tok", KEY, "wxOther").key).encrypt("<xml/>", "wxOther")
    with pytest.raises(AppIdMismatch):
        MessageCipher(KEY, APP).decrypt(other.decode() if isinstance(other, bytes) else other)


@pytest.mark.parametrize("garbage", ["", "not base64 !!", "QUJD", "A" * 44])
def test_garbage_is_a_decrypt_error(garbage: str) -> None:
    with pytest.raises(DecryptError):
        MessageCipher(KEY, APP).decrypt(garbage)


def test_a_wrong_key_length_is_refused() -> None:
    with pytest.raises(ValueError):
        MessageCipher("abc", APP)


# ---- fixed vectors at the padding boundary -----------------------------------
# The plaintext is 16 random bytes + 4 length bytes + the message + the AppID
# (18 bytes here), padded (PKCS#7) to a multiple of 32: a message of 26 + 32k
# bytes fills its last block exactly and gets a whole block of padding (32 bytes
# of 0x20); one byte less gets one byte of padding, one byte more 31.

RANDOM = b"0123456789abcdef"  # the 16 "random" bytes, fixed so the ciphertext is too


def message_of(size: int) -> str:
    """A text message of exactly `size` UTF-8 bytes, Chinese where it fits."""
    words = "楼道灯坏了好几天了"
    text = ""
    for char in words * 20:
        if len((text + char).encode()) > size:
            break
        text += char
    return text + "!" * (size - len(text.encode()))


BOUNDARY = [(size, 32 * ((38 + size) // 32 + 1)) for size in (25, 26, 27, 57, 58, 59, 121, 122, 123)]


@pytest.mark.parametrize(("size", "padded"), BOUNDARY)
def test_boundary_vectors_match_wechatpy_byte_for_byte(size: int, padded: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    text = message_of(size)
    assert len(text.encode()) == size
    monkeypatch.setattr("bot.wechat.crypto.os.urandom", lambda n: RANDOM[:n])
    theirs = PrpCrypto(WeChatCrypto("tok", KEY, APP).key)
    monkeypatch.setattr(theirs, "get_random_string", lambda: RANDOM.decode())
    ours = MessageCipher(KEY, APP).encrypt(text)
    expected = theirs.encrypt(text, APP)
    assert ours == (expected.decode() if isinstance(expected, bytes) else expected)
    assert len(base64.b64decode(ours)) == padded  # 38 + size, padded to the next multiple of 32


@pytest.mark.parametrize(("size", "padded"), BOUNDARY)
def test_boundary_vectors_round_trip_both_ways(size: int, padded: int) -> None:
    text = message_of(size)
    ours = MessageCipher(KEY, APP)
    theirs = PrpCrypto(WeChatCrypto("tok", KEY, APP).key)
    from_them = theirs.encrypt(text, APP)
    from_them = from_them.decode() if isinstance(from_them, bytes) else from_them
    assert len(base64.b64decode(from_them)) == padded
    assert ours.decrypt(from_them) == text.encode()
    decrypted = theirs.decrypt(ours.encrypt(text), APP)
    assert (decrypted.decode() if isinstance(decrypted, bytes) else decrypted) == text
