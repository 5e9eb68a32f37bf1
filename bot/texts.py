"""Reply texts: every word a user reads lives in bot/data/texts.toml.

A community can override any text in its own file ([texts] in config is not
needed: put a texts.toml beside config.toml). Rendering uses str.format with
named fields.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

_DEFAULT = Path(__file__).resolve().parent / "data" / "texts.toml"


class Texts:
    def __init__(self, path: Path = _DEFAULT, override: Path | None = None) -> None:
        self._texts: dict[str, str] = _flatten(tomllib.loads(path.read_text(encoding="utf-8")))
        if override is not None and override.is_file():
            self._texts.update(_flatten(tomllib.loads(override.read_text(encoding="utf-8"))))

    def __call__(self, key: str, **fields: Any) -> str:
        try:
            template = self._texts[key]
        except KeyError:
            raise KeyError(f"no reply text {key!r} in texts.toml") from None
        return template.format(**fields).strip()

    def has(self, key: str) -> bool:
        return key in self._texts


def _flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = str(value)
    return out


texts = Texts(_DEFAULT, Path("texts.toml"))
