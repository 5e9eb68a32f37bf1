"""Owns the segmentation dictionary: jieba's prefix dictionary with the
community user dictionary, loaded once at start-up (not lazily on the first
message), and ``cut``, jieba's precise mode on it.

The dictionary is held compactly (``Dictionary``): a word is keyed by an int
made from its characters' places in the dictionary's alphabet instead of by
a string, and holds its log probability instead of its count, so neither a
per-message memo of log probabilities nor jieba's own 60 MB table stays in
memory. It is built with jieba from its dictionary and ours, then kept in a
writable cache directory (``$LIANXIN_CACHE_DIR``, else
``$XDG_CACHE_HOME/lianxin`` or ``~/.cache/lianxin``, else the system temp
dir) and read from there as one block at later starts. After start-up it is
only read, so any number of threads and tasks may segment at the same time.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import re
import tempfile
import threading
from importlib.util import find_spec
from math import exp as _exp
from math import log as _log
from pathlib import Path
from typing import Any

JiebaTokenizer = Any  # jieba ships no type information


def _import_jieba():
    """Import jieba (only to build the dictionary: serving needs none of it) without
    pkg_resources: jieba tries that deprecated module (12 MB and a tenth of a
    second) only to locate its own data files, and falls back to a plain path
    when the import fails."""
    import sys

    blocked = "pkg_resources" not in sys.modules
    if blocked:
        sys.modules["pkg_resources"] = None  # type: ignore[assignment]
    try:
        import jieba
    finally:
        if blocked and sys.modules.get("pkg_resources") is None:
            del sys.modules["pkg_resources"]
    jieba.setLogLevel(logging.WARNING)  # its own stderr handler, set to DEBUG at import
    return jieba


# jieba's own patterns (re_han_default, re_skip_default), so that ``cut`` splits a
# text into the same blocks as jieba; a test checks they are still jieba's
_RE_HAN = re.compile("([\u4E00-\u9FD5a-zA-Z0-9+#&\\._%\\-]+)", re.U)
_RE_SKIP = re.compile("(\r\n|\\s)", re.U)
_ENG = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")  # jieba's re_eng

log = logging.getLogger(__name__)

USERDICT = Path(__file__).resolve().parent / "data" / "userdict.txt"
JIEBA_CACHE_FILE = "lianxin-jieba.cache"  # jieba's prefix dictionary, to rebuild ours quickly
CACHE_PREFIX = "lianxin-dict-"
CACHE_VERSION = 1

# An entry that only starts longer words (jieba's count 0). Every word's log
# probability is below 0, so this value is never a word's.
PREFIX = 1.0

_lock = threading.Lock()
_dictionary: Dictionary | None = None


def _bits(index: dict[str, int]) -> int:
    """Bits per character in a key: enough for the highest character number."""
    return max(len(index), 1).bit_length()


class Dictionary:
    """jieba's prefix dictionary, compact.

    ``index`` numbers the characters that occur in the dictionary from 1;
    a word's key is its characters' numbers, ``bits`` bits each, first
    character highest (so keys of different lengths never meet: the first
    number is never 0). ``entries`` maps a key to the word's log probability
    as jieba computes it (``log(count) - log(total)``), or to ``PREFIX``.
    """

    def __init__(self, index: dict[str, int], entries: dict[int, float], total: int) -> None:
        self.index = index
        self.entries = entries
        self.total = total
        self.logtotal = _log(total)
        self.bits = _bits(index)

    @classmethod
    def from_counts(cls, freq: dict[str, int], total: int) -> Dictionary:
        """From jieba's ``FREQ`` (word or prefix -> count) and ``total``."""
        index: dict[str, int] = {}
        for word in freq:
            for ch in word:
                if ch not in index:
                    index[ch] = len(index) + 1
        bits = _bits(index)
        logtotal = _log(total)
        shared: dict[float, float] = {}  # one float object per value: marshal keeps them shared
        entries: dict[int, float] = {}
        for word, count in freq.items():
            key = 0
            for ch in word:
                key = (key << bits) | index[ch]
            value = _log(count) - logtotal if count else PREFIX
            entries[key] = shared.setdefault(value, value)
        return cls(index, entries, total)

    def key(self, word: str) -> int | None:
        """``word``'s key, or None when a character of it is in no entry."""
        index, bits = self.index, self.bits
        key = 0
        for ch in word:
            number = index.get(ch)
            if number is None:
                return None
            key = (key << bits) | number
        return key

    def count(self, word: str) -> int:
        """jieba's count of ``word`` (0 when it is no word)."""
        key = self.key(word) if word else None
        value = self.entries.get(key) if key is not None else None
        if value is None or value == PREFIX:
            return 0
        return round(_exp(value + self.logtotal))


def cache_dir() -> Path:
    """A writable directory for the dictionary cache."""
    candidates: list[Path] = []
    if os.environ.get("LIANXIN_CACHE_DIR"):
        candidates.append(Path(os.environ["LIANXIN_CACHE_DIR"]))
    xdg = os.environ.get("XDG_CACHE_HOME")
    try:
        candidates.append((Path(xdg) if xdg else Path.home() / ".cache") / "lianxin")
    except RuntimeError:  # no home directory
        pass
    for path in candidates:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(path, os.W_OK):
            return path
    return Path(tempfile.gettempdir())


def _dictionary_file() -> Path:
    """jieba's dictionary, found without importing jieba."""
    spec = find_spec("jieba")
    assert spec is not None and spec.origin is not None, "jieba is not installed"
    return Path(spec.origin).resolve().parent / "dict.txt"


def cache_path(directory: Path | None = None) -> Path:
    """Where the compact dictionary for this user dictionary is kept."""
    digest = hashlib.sha1(USERDICT.read_bytes() + bytes([CACHE_VERSION])).hexdigest()[:16]
    return (directory or cache_dir()) / f"{CACHE_PREFIX}{digest}.cache"


def _read_cache(path: Path) -> Dictionary | None:
    """The dictionary kept in ``path`` if it is there and newer than jieba's dictionary."""
    try:
        if path.stat().st_mtime < _dictionary_file().stat().st_mtime:
            return None
        index, entries, total = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(index, dict) or not isinstance(entries, dict) or not isinstance(total, int) or not entries:
        return None
    return Dictionary(index, entries, total)


def keep_cached(path: Path, family: str, value: Any) -> None:
    """Keep ``value`` (marshalled) in ``path`` in the cache directory: written aside and
    renamed, so a reader never sees half a file; the other files of ``family`` (a name
    prefix: copies made from earlier versions of the same source) are dropped."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(marshal.dumps(value))
        os.replace(tmp, path)
        for old in path.parent.glob(f"{family}*.cache"):
            if old != path:
                old.unlink(missing_ok=True)
    except (OSError, ValueError):
        log.warning("could not keep %s in %s", path.name, path.parent, exc_info=True)
        tmp.unlink(missing_ok=True)


def _load_jieba_cache(tk: JiebaTokenizer) -> bool:
    """Fill ``tk`` from jieba's cache file if it is there and newer than jieba's
    dictionary (read as one block: several times faster than jieba's own read)."""
    path = Path(tk.tmp_dir) / tk.cache_file
    try:
        if path.stat().st_mtime < _dictionary_file().stat().st_mtime:
            return False
        freq, total = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return False
    if not isinstance(freq, dict) or not isinstance(total, int) or not freq:
        return False
    tk.FREQ, tk.total = freq, total
    tk.initialized = True
    return True


def jieba_tokenizer() -> JiebaTokenizer:
    """A jieba tokenizer with jieba's dictionary and ours, as ``cut`` segments
    with (for building the dictionary, and for tests that compare with jieba).
    Its table takes about 60 MB: it is not kept."""
    tk = _import_jieba().Tokenizer()
    tk.tmp_dir = str(cache_dir())
    tk.cache_file = JIEBA_CACHE_FILE
    if not _load_jieba_cache(tk):
        log.info("building the jieba prefix dictionary cache in %s", tk.tmp_dir)
        tk.initialize()  # builds from dict.txt and writes the cache file
    with USERDICT.open("rb") as f:
        tk.load_userdict(f)
    return tk


def initialise() -> None:
    """Load the dictionary once; later calls do nothing."""
    global _dictionary
    if _dictionary is not None:
        return
    with _lock:
        if _dictionary is not None:
            return
        path = cache_path()
        d = _read_cache(path)
        if d is None:
            log.info("building the segmentation dictionary in %s", path.parent)
            tk = jieba_tokenizer()
            d = Dictionary.from_counts(tk.FREQ, tk.total)
            keep_cached(path, CACHE_PREFIX, (d.index, d.entries, d.total))
        _dictionary = d


def dictionary() -> Dictionary:
    """The process's dictionary (loading it if start-up did not)."""
    if _dictionary is None:
        initialise()
    assert _dictionary is not None
    return _dictionary


def cut(text: str | bytes) -> list[str]:
    """Segment ``text``: jieba's precise mode with the dictionaries only.

    HMM new-word discovery is off: a run of unknown characters (a name like
    王奶奶, a typo like 路登) is better left as single characters for keyword
    lookup than glued into a made-up word, and segmenting is a third faster.

    The same as jieba's ``lcut(text, HMM=False)`` with the same dictionaries,
    word for word: the same blocks, the same word graph, the same sums in the
    same order and the same tie-break, computed in one loop per block instead
    of jieba's generators (see ``_cut_block``).
    """
    d = dictionary()
    if not isinstance(text, str):
        text = _decode(text)
    out: list[str] = []
    for i, block in enumerate(_RE_HAN.split(text)):
        if not block:
            continue
        if i % 2:  # a run of Chinese characters, letters, digits and +#&._%-
            _cut_block(block, d, out)
        else:  # anything else: each whitespace run as is, every other character alone
            for j, piece in enumerate(_RE_SKIP.split(block)):
                if j % 2:
                    out.append(piece)
                else:
                    out.extend(piece)
    return out


def _decode(data: bytes) -> str:
    """Bytes as jieba reads them: UTF-8, else GBK, dropping what is neither."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gbk", "ignore")


def _cut_block(block: str, d: Dictionary, out: list[str]) -> None:
    """jieba's ``__cut_DAG_NO_HMM`` of one block.

    jieba builds the graph of dictionary words from each position (``get_DAG``:
    every longer prefix while it is an entry, the words among them; the lone
    character when there is none) and keeps, right to left, the likeliest way
    on (``calc``: ``max((log(count or 1) - log(total) + score after, end))``,
    so the longer word on a tie). Here both are one loop, with the same
    additions in the same order. Lone ASCII letters and digits are joined.
    """
    n = len(block)
    score = [0.0] * (n + 1)
    ends = list(range(n + 1))
    number = d.index.get
    numbers = [number(ch) for ch in block]
    get = d.entries.get
    bits = d.bits
    lone = -d.logtotal  # log(1) - log(total): a character that is no word
    for k in range(n - 1, -1, -1):
        key = numbers[k]
        v = get(key) if key is not None else None
        found = v is not None and v != PREFIX  # the character is a word by itself
        best = (v if found else lone) + score[k + 1]  # type: ignore[operator]
        end = k
        if v is not None and key is not None:  # an entry: longer words may start here
            i = k + 1
            while i < n:
                following = numbers[i]
                if following is None:
                    break
                key = (key << bits) | following
                v = get(key)
                if v is None:
                    break
                if v != PREFIX:
                    s = v + score[i + 1]
                    if not found or s >= best:
                        best, end, found = s, i, True
                i += 1
        score[k] = best
        ends[k] = end
    x = 0
    buf = ""
    while x < n:
        y = ends[x] + 1
        word = block[x:y]
        if y - x == 1 and word in _ENG:
            buf += word
        else:
            if buf:
                out.append(buf)
                buf = ""
            out.append(word)
        x = y
    if buf:
        out.append(buf)


def word_freq(word: str) -> int:
    """How often jieba's dictionary has seen ``word`` (0 when unknown)."""
    return dictionary().count(word)
