"""Pinyin readings of Chinese characters, for finding keywords typed with a wrong character.

The table is pypinyin's single-character dictionary without tones (every
reading of a polyphonic character). It is built from pypinyin once and cached
beside jieba's dictionary cache, so start-up reads one small file instead of
importing pypinyin and its phrase dictionary.
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import tempfile
import threading
import unicodedata
from itertools import islice, product
from pathlib import Path

from nlp.tokenizer import cache_dir

_CJK_FIRST, _CJK_LAST = 0x4E00, 0x9FFF
_MAX_KEYS = 16  # readings of a word: at most this many combinations

_lock = threading.Lock()
_table: dict[str, tuple[str, ...]] | None = None


def _source() -> Path | None:
    """pypinyin's character dictionary (its data file), found without importing pypinyin."""
    spec = importlib.util.find_spec("pypinyin")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    data = folder / "pinyin_dict.json"
    return data if data.is_file() else folder / "pinyin_dict.py"


def _toneless(reading: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", reading) if not unicodedata.combining(ch))


def _build() -> dict[str, tuple[str, ...]]:
    from pypinyin.pinyin_dict import pinyin_dict

    table: dict[str, tuple[str, ...]] = {}
    for code, readings in pinyin_dict.items():
        if _CJK_FIRST <= code <= _CJK_LAST:
            table[chr(code)] = tuple(dict.fromkeys(_toneless(r) for r in readings.split(",") if r))
    return table


def initialise() -> None:
    """Load the reading table (building its cache on the first run); idempotent."""
    global _table
    if _table is not None:
        return
    with _lock:
        if _table is not None:
            return
        source = _source()
        table: dict[str, tuple[str, ...]] | None = None
        cache = None
        if source is not None and source.is_file():
            stat = source.stat()
            cache = cache_dir() / f"lianxin-pinyin-{stat.st_size}-{int(stat.st_mtime)}.cache"
            try:
                loaded = marshal.loads(cache.read_bytes())
                if isinstance(loaded, dict) and loaded:
                    table = loaded
            except (OSError, ValueError, EOFError, TypeError):
                table = None
        if table is None:
            table = _build()
            if cache is not None:
                try:
                    fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".tmp")
                    with os.fdopen(fd, "wb") as f:
                        f.write(marshal.dumps(table))
                    os.replace(tmp, cache)
                except OSError:
                    pass  # no cache this time; the table is built again next start
        _table = table


def readings(ch: str) -> tuple[str, ...]:
    """The toneless readings of one character (empty when it has none)."""
    if _table is None:
        initialise()
    assert _table is not None
    return _table.get(ch, ())


def usual_reading(ch: str) -> str:
    """The usual (first) toneless reading of a character, "" when it has none."""
    if _table is None:
        initialise()
    assert _table is not None
    found = _table.get(ch)
    return found[0] if found else ""


def keys(word: str) -> list[tuple[str, ...]]:
    """The ways ``word`` can be read, as syllable tuples (a bounded number of them)."""
    parts = [readings(ch) for ch in word]
    if not all(parts):
        return []
    return list(islice(product(*parts), _MAX_KEYS))
