"""Our safe-mode AES agrees with wechatpy's WeChatCrypto in both directions."""

from __future__ import annotations

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
