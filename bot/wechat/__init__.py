"""The WeChat official-account protocol: signatures, AES safe mode, XML."""
