"""Owns jieba: one private ``jieba.Tokenizer`` with the community user dictionary.

``initialise()`` loads it once at start-up (it is not loaded lazily on the first
message). The prefix dictionary is cached in a writable cache directory
(``$LIANXIN_CACHE_DIR``, else ``$XDG_CACHE_HOME/lianxin`` or ``~/.cache/lianxin``,
else the system temp dir) in jieba's own cache format; reading it as one
block instead of jieba's streamed read makes start-up several times faster.
After start-up the tokenizer is only read, so any number of threads and tasks
may segment at the same time.
"""

from __future__ import annotations

import logging
import marshal
import os
import tempfile
import threading
from math import log as _log
from pathlib import Path
from typing import Any

JiebaTokenizer = Any  # jieba ships no type information


def _import_jieba():
    """Import jieba without pkg_resources: jieba tries that deprecated module
    (12 MB and a tenth of a second) only to locate its own data files, and
    falls back to a plain path when the import fails."""
    import sys

    blocked = "pkg_resources" not in sys.modules
    if blocked:
        sys.modules["pkg_resources"] = None  # type: ignore[assignment]
    try:
        import jieba
    finally:
        if blocked and sys.modules.get("pkg_resources") is None:
            del sys.modules["pkg_resources"]
    return jieba


jieba = _import_jieba()

# jieba's own patterns, so that ``cut`` splits a text into the same blocks as jieba
_RE_HAN = jieba.re_han_default
_RE_SKIP = jieba.re_skip_default
_ENG = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")  # jieba's re_eng

log = logging.getLogger(__name__)

USERDICT = Path(__file__).resolve().parent / "data" / "userdict.txt"
CACHE_FILE = "lianxin-jieba.cache"

_lock = threading.Lock()
_tokenizer: JiebaTokenizer | None = None


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
    return Path(jieba.__file__).resolve().parent / jieba.DEFAULT_DICT_NAME


def _load_cache(tk: JiebaTokenizer) -> bool:
    """Fill ``tk`` from the cache file if it is there and newer than jieba's dictionary."""
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


def initialise() -> None:
    """Load jieba's dictionary and the user dictionary once; later calls do nothing."""
    global _tokenizer
    if _tokenizer is not None:
        return
    with _lock:
        if _tokenizer is not None:
            return
        jieba.setLogLevel(logging.WARNING)  # its own stderr handler, set to DEBUG at import
        tk = jieba.Tokenizer()
        tk.tmp_dir = str(cache_dir())
        tk.cache_file = CACHE_FILE
        if not _load_cache(tk):
            log.info("building the jieba prefix dictionary cache in %s", tk.tmp_dir)
            tk.initialize()  # builds from dict.txt and writes the cache file
        with USERDICT.open("rb") as f:
            tk.load_userdict(f)
        _tokenizer = tk


def tokenizer() -> JiebaTokenizer:
    """The process's tokenizer (initialising it if start-up did not)."""
    if _tokenizer is None:
        initialise()
    assert _tokenizer is not None
    return _tokenizer


def cut(text: str) -> list[str]:
    """Segment ``text``: jieba's precise mode with the dictionaries only.

    HMM new-word discovery is off: a run of unknown characters (a name like
    王奶奶, a typo like 路登) is better left as single characters for keyword
    lookup than glued into a made-up word, and segmenting is a third faster.

    The same as ``tokenizer().lcut(text, HMM=False)``, word for word: the same
    blocks, the same word graph, the same sums in the same order and the same
    tie-break, computed in one loop per block instead of jieba's generators
    (see ``_cut_block``).
    """
    tk = tokenizer()
    if not isinstance(text, str):
        return tk.lcut(text, HMM=False)  # bytes and the like: jieba decodes them
    out: list[str] = []
    logp = _log_probabilities(tk)
    freq = tk.FREQ
    logtotal = _log(tk.total)
    for i, block in enumerate(_RE_HAN.split(text)):
        if not block:
            continue
        if i % 2:  # a run of Chinese characters, letters, digits and +#&._%-
            _cut_block(block, freq, logtotal, logp, out)
        else:  # anything else: each whitespace run as is, every other character alone
            for j, piece in enumerate(_RE_SKIP.split(block)):
                if j % 2:
                    out.append(piece)
                else:
                    out.extend(piece)
    return out


# dictionary entry -> (its count, log(count or 1) - log(total)), filled as entries are met (only
# the dictionary's entries are kept); dropped if the dictionary changes or it grows past _LOGP_MAX
_LOGP_MAX = 200_000
_logp: dict[str, tuple[int, float]] = {}
_logp_of: tuple[int, int] = (0, 0)


def _log_probabilities(tk: JiebaTokenizer) -> dict[str, tuple[int, float]]:
    global _logp, _logp_of
    key = (id(tk.FREQ), tk.total)
    if key != _logp_of or len(_logp) > _LOGP_MAX:
        _logp, _logp_of = {}, key
    return _logp


def _cut_block(block: str, freq: dict[str, int], logtotal: float, logp: dict[str, tuple[int, float]],
               out: list[str]) -> None:
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
    get = logp.get
    for k in range(n - 1, -1, -1):
        frag = block[k]
        v = get(frag)
        if v is None:
            f = freq.get(frag)
            v = (f or 0, _log(f or 1) - logtotal)
            if f is not None:
                logp[frag] = v
        else:
            f = v[0]
        found = bool(f)  # the character is a word by itself
        best = v[1] + score[k + 1]
        end = k
        if f is not None:  # an entry: longer words may start here
            i = k + 1
            while i < n:
                frag = block[k:i + 1]
                v = get(frag)
                if v is None:
                    f = freq.get(frag)
                    if f is None:
                        break
                    v = logp[frag] = (f, _log(f or 1) - logtotal)
                if v[0]:
                    s = v[1] + score[i + 1]
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
    return tokenizer().FREQ.get(word) or 0
