"""Door to door (联户走访) by reply: staff `征集 标题 [截止12月20日]`,
`征集结果 N`, `征集结束 N 总结`; residents `意见 [N] 内容`; members
`走访 3栋2单元502 情况` and `走访情况`."""

from __future__ import annotations

from bot.chat.context import Context
from bot.chat.dispatcher import Router
from bot.chat.filters import command, role
from bot.domain.identity import STAFF, VOLUNTEER
from bot.domain.visits import campaigns, care, results, rounds
from bot.domain.visits.words import local_day, split_deadline
from handlers.common import desk, person, reply, say
from nlp import Command

router = Router("visits")

STAFF_COMMANDS = ("campaign_open", "campaign_result", "campaign_close")
MEMBER_COMMANDS = ("visit", "visit_status")
LISTED = 8  # households named in one line of 走访情况


def percent(rate: float) -> str:
    return f"{rate * 100:.0f}%"


@router.handler(command("campaign_open"), role(STAFF))
async def campaign_open(ctx: Context, cmd: Command) -> str:
    arg = f"{cmd.ticket} {cmd.arg}" if cmd.ticket is not None else cmd.arg  # "征集 2024年…" is a title
    title, deadline = split_deadline(arg, ctx.now)
    if not title:
        return say(ctx, "campaign.need_title")
    opened = await campaigns.open_campaign(ctx.session, ctx.services.texts, person(ctx), title, ctx.now,
                                           deadline=deadline)
    return say(ctx, "campaign.opened", **campaigns.campaign_fields(ctx.services.texts, opened.campaign),
               residents=opened.residents, members=opened.members, households=opened.households)


@router.handler(command("campaign_result"), role(STAFF))
async def campaign_result(ctx: Context, cmd: Command) -> str:
    campaign = await campaigns.staff_campaign(ctx.session, person(ctx), cmd.ticket)
    if campaign is None:
        return say(ctx, "campaign.not_found", no=cmd.ticket) if cmd.ticket else say(ctx, "campaign.none")
    r = await results.results(ctx.session, campaign, ctx.services.analyser.tokens)
    fields = campaigns.campaign_fields(ctx.services.texts, campaign)

    def shares(items: list[results.Share]) -> str:
        return "，".join(say(ctx, "results.share", label=s.label or say(ctx, "results.no_member"),
                             reached=s.reached, total=s.total) for s in items)

    lines = [say(ctx, "results.header", **fields),
             say(ctx, "results.coverage", reached=r.reached, opinions=r.opinions, total=r.total,
                 rate=percent(r.rate)),
             say(ctx, "results.by_building", items=shares(r.by_building)),
             say(ctx, "results.by_member", items=shares(r.by_member))]
    counted = [say(ctx, "results.choice", label=label, count=count) for label, count in r.choices]
    if r.undecided:
        counted.append(say(ctx, "results.undecided", count=r.undecided))
    lines.append(say(ctx, "results.choices", items="，".join(counted)))
    lines.append(say(ctx, "results.topics", items="，".join(say(ctx, "results.topic", word=w, count=c)
                                                            for w, c in r.topics))
                 if r.topics else say(ctx, "results.no_topics"))
    if campaign.state == campaigns.OPEN:
        lines.append(say(ctx, "results.footer", **fields))
    return "\n".join(lines)


@router.handler(command("campaign_close"), role(STAFF))
async def campaign_close(ctx: Context, cmd: Command) -> str:
    campaign = await campaigns.staff_campaign(ctx.session, person(ctx), cmd.ticket)
    if campaign is None:
        return say(ctx, "campaign.not_found", no=cmd.ticket) if cmd.ticket else say(ctx, "campaign.none")
    texts = ctx.services.texts
    if not cmd.arg.strip():
        closed = campaigns.close(campaign, ctx.now)
        return say(ctx, "campaign.closed_now" if closed else "campaign.already_closed",
                   **campaigns.campaign_fields(texts, campaign))
    if campaign.summary_sent_at is not None:
        return say(ctx, "campaign.summary_already", no=campaign.id)
    count = await campaigns.send_summary(ctx.session, texts, campaign, cmd.arg, ctx.now)
    return say(ctx, "campaign.summary_sent", count=count, **campaigns.campaign_fields(texts, campaign))


@router.handler(command(*STAFF_COMMANDS))
async def not_staff(ctx: Context) -> str:
    return say(ctx, "refused.not_staff")


@router.handler(command("visit"), role(VOLUNTEER))
async def visit(ctx: Context, cmd: Command) -> str:
    assert ctx.sender is not None
    record = await rounds.record_visit(desk(ctx), ctx.services.analyser, ctx.sender, cmd.arg,
                                       campaign_no=cmd.ticket, source_message_id=ctx.data.get("message_id"))
    if not record.ok:
        return say(ctx, record.refusal, **(record.fields or {}))
    head = say(ctx, "visit.head", name=record.head_name) if record.head_name else ""
    lines = [say(ctx, "visit.recorded", address=record.address, head=head)]
    if record.campaign is not None:
        choice = say(ctx, "opinion.choice", choice=record.choice) if record.choice else ""
        lines.append(say(ctx, "visit.opinion", no=record.campaign.id, title=record.campaign.title, choice=choice))
    if record.care_mark is not None and record.care_mark.due_at is not None:
        lines.append(say(ctx, "visit.care", mark=record.care_mark.mark, day=local_day(record.care_mark.due_at)))
    if record.ticket is not None:
        t = record.ticket
        lines.append(say(ctx, "visit.ticket_urgent" if t.urgent else "visit.ticket", no=t.id,
                         category=ctx.services.analyser.category_name(t.category), handler=record.handler))
    return "\n".join(lines)


@router.handler(command("visit_status"), role(VOLUNTEER))
async def visit_status(ctx: Context) -> str:
    me = person(ctx)
    due = await care.due_visits(ctx.session, ctx.config.visits, ctx.now, person=me)
    rounds_left = await results.member_rounds(ctx.session, me, ctx.now)
    if not due and not any(r.unreached for r in rounds_left):
        return say(ctx, "visit.status_empty")
    lines = [say(ctx, "visit.status_header")]
    for d in due:
        key = "visit.status_overdue" if d.overdue else "visit.status_due" if d.days >= 0 else "visit.status_soon"
        head = say(ctx, "visit.head", name=d.head_name) if d.head_name else ""
        lines.append(say(ctx, key, address=d.address, head=head, mark=d.mark, day=d.day, days=d.days))
    for r in rounds_left:
        rest = ""
        if r.unreached:
            names = "、".join(h.address for h in r.unreached[:LISTED])
            if len(r.unreached) > LISTED:
                names += say(ctx, "visit.status_more", count=len(r.unreached))
            rest = say(ctx, "visit.status_rest", addresses=names)
        lines.append(say(ctx, "visit.status_campaign", no=r.campaign.id, title=r.campaign.title,
                         reached=r.reached, total=r.total, rest=rest))
    lines.append(say(ctx, "visit.status_footer"))
    return "\n".join(lines)


@router.handler(command(*MEMBER_COMMANDS))
async def not_a_member(ctx: Context) -> str:
    return say(ctx, "refused.not_volunteer")


@router.handler(command("opinion"))
async def opinion(ctx: Context, cmd: Command) -> str:
    assert ctx.sender is not None
    return reply(ctx, await campaigns.give_opinion(ctx.session, ctx.services.texts, ctx.sender, cmd.ticket,
                                                   cmd.arg, ctx.now))
