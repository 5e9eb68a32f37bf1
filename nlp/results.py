"""The values the router hands to the rest of the bot: Place, Command and Analysis."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Place:
    """A place named in a message."""

    text: str  # as written in the message ("" if none)
    building: int | None = None
    unit: int | None = None
    room: str | None = None  # digits, e.g. "501"
    name: str | None = None  # named compound/street/landmark, e.g. "幸福小区"


@dataclass(frozen=True)
class Command:
    """A volunteer's or staff member's command."""

    name: str  # accept, progress, resolve, hand_back, todo, leave, back, close, reassign,
    #            recategorise, triage_queue, stats; campaign_open, campaign_result, campaign_close,
    #            opinion, visit, visit_status (door to door)
    ticket: int | None = None
    arg: str = ""  # note / person name / category code (停车 -> parking)


@dataclass(frozen=True)
class Analysis:
    """What a resident's message is: a request (category, kind, urgency) or an intent."""

    text: str
    intent: str  # "request" or one of the 8 intents
    category: str  # taxonomy code for requests, "" for intents
    kind: str  # "" for intents
    urgent: bool
    place: Place  # Place("") when none
    confidence: float
    matched: tuple[str, ...]  # the keywords/cues that decided it, so staff can see why
    ticket: int | None = None
    rating: int | None = None
    invite_code: str | None = None

    @property
    def is_request(self) -> bool:
        return self.intent == "request"
