"""Text clean-up shared by the router: width folding and clause boundaries.

Every transformation here keeps the length of the text, so a span found in
the normalised text is the same span in the message as the resident wrote it.
"""

from __future__ import annotations

import re
from bisect import bisect_right

# full-width ASCII (！ to ～) to half-width, the ideographic space to a space,
# ASCII capitals to lower case
_FOLD: dict[int, int] = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FOLD[0x3000] = 0x20
_FOLD.update({code: code + 32 for code in range(ord("A"), ord("Z") + 1)})
_FOLD.update({code: code + 32 - 0xFEE0 for code in range(0xFF21, 0xFF3B)})
# control characters and lone surrogates (not valid for jieba or UTF-8) become spaces
_BAD = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufeff\u200b-\u200f\u2028\u2029]")

# what ends a clause: punctuation, line breaks and the spaces residents type
# between thoughts
CLAUSE_BREAK = re.compile(r"[,.!?;:、。，！？；：…~～\s]+")


def normalise(text: str) -> str:
    """Fold widths and case, blank out control characters; same length as ``text``."""
    text = _BAD.sub(" ", text)
    return text.translate(_FOLD)


class Clauses:
    """Clause index of any position in a text (clauses split at punctuation and spaces).

    The split is made on first use: most messages never need it.
    """

    __slots__ = ("_spans", "_starts", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._spans: list[tuple[int, int]] | None = None
        self._starts: list[int] = []

    @property
    def spans(self) -> list[tuple[int, int]]:
        """(start, end) of each clause."""
        if self._spans is None:
            self._split()
        assert self._spans is not None
        return self._spans

    def _split(self) -> None:
        text = self._text
        spans: list[tuple[int, int]] = []
        pos = 0
        for m in CLAUSE_BREAK.finditer(text):
            if m.start() > pos:
                spans.append((pos, m.start()))
            pos = m.end()
        if pos < len(text):
            spans.append((pos, len(text)))
        if not spans:
            spans.append((0, len(text)))
        self._starts = [s for s, _ in spans]
        self._spans = spans

    def of(self, pos: int) -> int:
        """The clause that holds position ``pos``."""
        if self._spans is None:
            self._split()
        return max(bisect_right(self._starts, pos) - 1, 0)

    def __len__(self) -> int:
        return len(self.spans)
