"""What an import did: counts per kind and the rejected rows."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain.roster.columns import _DATA, KINDS, _msg
from bot.domain.roster.sheets import Rejection

# --- the report -------------------------------------------------------------------------------------------


@dataclass
class KindCounts:
    """How many entities of one kind the import added, changed or left as they were."""

    added: int = 0
    changed: int = 0
    unchanged: int = 0


@dataclass
class ImportReport:
    """What an import did, per row and per entity kind."""

    added: int = 0
    changed: int = 0
    unchanged: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    entities: dict[str, KindCounts] = field(default_factory=lambda: {k: KindCounts() for k in KINDS})
    rows: int = 0
    strict: bool = False
    loaded: bool = True
    preview: bool = False  # a dry run: nothing was written
    notes: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=lambda: {"blank": 0, "sign_off": 0})

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    def summary(self) -> str:
        """The report in Chinese, for the staff who ran the import."""
        lines: list[str] = []
        if self.loaded:
            lines.append(_msg("summary", "done", total=self.rows, added=self.added, changed=self.changed,
                              unchanged=self.unchanged, rejected=self.rejected))
            for kind in KINDS:
                counts = self.entities[kind]
                if counts.added or counts.changed or counts.unchanged:
                    lines.append(_msg("summary", "kind_line", kind=_DATA["kinds"][kind], added=counts.added,
                                      changed=counts.changed, unchanged=counts.unchanged))
        else:
            lines.append(_msg("summary", "strict_refused", rejected=self.rejected, total=self.rows))
        if any(self.skipped.values()):
            lines.append(_msg("summary", "skipped", **self.skipped))
        if self.rejections:
            lines.append(_msg("summary", "rejections"))
            lines.extend(_msg("summary", "rejection", sheet=r.sheet, row=r.row, reason=r.reason)
                         for r in self.rejections)
        if self.notes:
            lines.append(_msg("summary", "notes"))
            lines.extend(_msg("summary", "note", note=note) for note in self.notes)
        return "\n".join(lines)
