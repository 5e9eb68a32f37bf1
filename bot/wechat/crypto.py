"""WeChat's message encryption (消息加解密, safe mode): AES-256-CBC with the
EncodingAESKey, IV = the key's first 16 bytes, PKCS#7 padding to 32 bytes,
and a body of 16 random bytes + network-order length + message + AppID.

Written on `cryptography` directly so the webhook does not import wechatpy,
whose package import pulls in its whole HTTP client (a fifth of a second of
start-up and tens of MB). The tests check it against wechatpy's WeChatCrypto
in both directions.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


class DecryptError(ValueError):
    """The ciphertext is not a message of this account (corrupt, or another AppID)."""


class AppIdMismatch(DecryptError):
    """The message decrypted but was made for another AppID."""


class MessageCipher:
    def __init__(self, encoding_aes_key: str, app_id: str) -> None:
        try:
            self.key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error:
            raise ValueError("EncodingAESKey is not base64") from None
        if len(self.key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes")
        self.app_id = app_id.encode("utf-8")

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, message: str) -> str:
        body = message.encode("utf-8")
        plain = os.urandom(16) + struct.pack(">I", len(body)) + body + self.app_id
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> bytes:
        try:
            data = base64.b64decode(encrypted, validate=False)
        except (binascii.Error, ValueError):
            raise DecryptError("not base64") from None
        if not data or len(data) % 16:
            raise DecryptError("not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or len(plain) < 20 + pad:
            raise DecryptError("bad padding")
        content = plain[16:-pad]
        (length,) = struct.unpack(">I", content[:4])
        if length > len(content) - 4:
            raise DecryptError("bad length")
        message, app_id = content[4:4 + length], content[4 + length:]
        if app_id != self.app_id:
            raise AppIdMismatch("message for another AppID")
        return message
