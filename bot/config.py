"""Configuration: read the TOML file, fill defaults, validate every key.

A mistake stops the program with a ConfigError that names the key and what was
expected; the CLI prints that one line and exits with code 2.
"""

from __future__ import annotations

import difflib
import functools
import os
import tomllib
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_PATH = Path("config.toml")
EXAMPLE_PATH = Path(__file__).resolve().parent.parent / "config.example.toml"


class ConfigError(Exception):
    """A configuration value is missing or wrong; the message names the key."""

    def __init__(self, key: str, expected: str, got: object = None) -> None:
        detail = f" (got {got!r})" if got is not None else ""
        super().__init__(f"config error: {key}: expected {expected}{detail}")
        self.key = key


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    worker: bool = True


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite+aiosqlite:///lianxin.db"
    pool_size: int = 10
    batch_max: int = 32
    batch_wait_ms: float = 0.0


@dataclass(frozen=True)
class WechatConfig:
    token: str = ""
    app_id: str = ""
    app_secret: str = ""
    encoding_aes_key: str = ""
    path: str = "/wechat"
    api_base_url: str = "https://api.weixin.qq.com"
    replay_window_s: int = 300
    max_body_bytes: int = 65536
    api_timeout_s: float = 5.0
    require_aes: bool = False
    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    max_connections: int = 1000
    templates: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WecomConfig:
    corp_id: str = ""
    corp_secret: str = ""
    agent_id: int = 0
    api_base_url: str = "https://qyapi.weixin.qq.com"

    @property
    def enabled(self) -> bool:
        return bool(self.corp_id and self.corp_secret and self.agent_id)


@dataclass(frozen=True)
class NlpConfig:
    rules_file: str = ""
    confidence_threshold: float = 0.35


@dataclass(frozen=True)
class DeadlineRule:
    accept_h: float
    resolve_h: float


@dataclass(frozen=True)
class TicketsConfig:
    # category -> first assignment level ("member", "building_head", "branch_secretary", "staff")
    category_first_level: dict[str, str] = field(default_factory=lambda: {"policy": "staff", "other": "staff"})
    media_attach_window_min: int = 30
    merge_window_h: float = 48.0
    merge_similarity: float = 0.3
    followup_close_days: int = 7
    urge_escalate_after: int = 2
    urge_cooldown_min: float = 30.0
    deadlines: dict[str, DeadlineRule] = field(
        default_factory=lambda: {"default": DeadlineRule(4, 72), "urgent": DeadlineRule(0.5, 4)}
    )
    holidays: tuple[str, ...] = ()
    unplaced_staff_phones: tuple[str, ...] = ()
    workday_start: str = "08:30"
    workday_end: str = "17:30"
    timezone: str = "Asia/Shanghai"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class ChatConfig:
    pending_minutes: float = 5.0
    followup_hours: float = 72.0


@dataclass(frozen=True)
class DeliveryConfig:
    poll_interval_s: float = 0.2
    batch_size: int = 50
    max_attempts: int = 8
    backoff_base_s: float = 2.0
    backoff_max_s: float = 600.0
    claim_timeout_s: float = 60.0
    redis_url: str = ""


@dataclass(frozen=True)
class ConsoleConfig:
    base_url: str = ""
    link_ttl_min: int = 10
    idle_timeout_min: int = 120
    secure_cookie: bool = True
    poll_interval_s: int = 5


@dataclass(frozen=True)
class SecurityConfig:
    """Limits against guessing and flooding (see [security] in config.example.toml)."""

    invite_failures_per_openid: int = 5
    invite_failures_overall: int = 50
    invite_failure_window_min: float = 60.0
    messages_per_minute: int = 20
    tickets_per_hour: int = 10
    failed_notice_max_attempts: int = 20
    probe_interval_s: float = 30.0
    probe_interval_max_s: float = 600.0


@dataclass(frozen=True)
class VisitsConfig:
    """Care rounds (关爱走访): days between visits per 关爱对象 mark, the
    interval of marks not listed, and the grace days after which an overdue
    visit climbs one level (and again every grace period)."""

    intervals: dict[str, int] = field(default_factory=lambda: {"空巢": 14, "独居": 7, "残疾": 14, "困难": 30})
    default_days: int = 30
    grace_days: int = 3

    def interval_days(self, mark: str) -> int:
        """The visit interval of a mark ("独居、残疾": the shortest of its parts)."""
        parts = [p for p in mark.split("、") if p]
        return min((self.intervals.get(p, self.default_days) for p in parts), default=self.default_days)


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    wechat: WechatConfig = field(default_factory=WechatConfig)
    wecom: WecomConfig = field(default_factory=WecomConfig)
    nlp: NlpConfig = field(default_factory=NlpConfig)
    tickets: TicketsConfig = field(default_factory=TicketsConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    chat: ChatConfig = field(default_factory=ChatConfig)
    visits: VisitsConfig = field(default_factory=VisitsConfig)
    source: str = "<defaults>"
    security: SecurityConfig = field(default_factory=SecurityConfig)

    @property
    def aes_mode(self) -> bool:
        return bool(self.wechat.encoding_aes_key)


LEVELS = ("member", "building_head", "branch_secretary", "staff")
# The kinds of notice the outbox carries (bot/delivery): keys of [wechat.templates].
NOTICE_KINDS = ("new_ticket", "triage", "urgent", "reminder", "escalation", "progress", "resolved", "followup",
                "reopened", "closed", "failed", "notice", "campaign", "care")
# Deadline rules that are not categories.
DEADLINE_RULES = ("default", "urgent")


def closest(key: str, known: Any) -> str | None:
    """The known key a mistyped one most likely meant, or None."""
    found = difflib.get_close_matches(key, [str(k) for k in known], n=1, cutoff=0.6)
    return found[0] if found else None


def _unknown(full: str, key: str, known: Any, what: str) -> ConfigError:
    """A ConfigError for an unknown key, suggesting the closest known one."""
    guess = closest(key, known)
    hint = f"; did you mean {full.rsplit('.', 1)[0]}.{guess}?" if guess else ""
    return ConfigError(full, f"{what} (known: {', '.join(known)}){hint}")


def _categories(rules_file: str) -> tuple[str, ...]:
    """The category codes of the router's taxonomy (with a community's own rules file)."""
    stamp = Path(rules_file).stat().st_mtime_ns if rules_file else 0
    return _categories_cached(rules_file, stamp)


@functools.lru_cache(maxsize=8)
def _categories_cached(rules_file: str, stamp: int) -> tuple[str, ...]:
    from nlp.rules import RulesError, load_document

    try:
        doc = load_document(Path(rules_file) if rules_file else None)
    except RulesError as exc:
        raise ConfigError("nlp.rules_file", f"a valid rules file ({exc})") from None
    categories = doc.get("categories", {})
    return tuple(categories) if isinstance(categories, dict) else ()


def _take(section: dict[str, Any], name: str, key: str, kind: type, default: Any, check=None, expected=""):
    value = section.pop(key, default)
    full = f"{name}.{key}"
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise ConfigError(full, expected or kind.__name__, value)
    if check is not None and not check(value):
        raise ConfigError(full, expected, value)
    return value


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.pop(name, {})
    if not isinstance(value, dict):
        raise ConfigError(name, "a table [" + name + "]", value)
    return dict(value)


def _no_extra(section: dict[str, Any], name: str, known: tuple[str, ...] = ()) -> None:
    if section:
        key = sorted(section)[0]
        guess = closest(key, known)
        hint = f"; did you mean {name}.{guess}?" if guess else ""
        raise ConfigError(f"{name}.{key}", f"no such key (check the spelling against config.example.toml){hint}")


def _keys(cls: type) -> tuple[str, ...]:
    """The keys a section takes: its dataclass's fields."""
    return tuple(f.name for f in fields(cls) if f.name != "source")


def _zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _positive(v: float) -> bool:
    return v > 0


def _hhmm(v: str) -> bool:
    parts = v.split(":")
    return len(parts) == 2 and all(p.isdigit() for p in parts) and 0 <= int(parts[0]) < 24 and 0 <= int(parts[1]) < 60


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def parse(raw: dict[str, Any], source: str = "<dict>") -> Config:
    """Validate a parsed TOML document into a Config."""
    raw = dict(raw)

    s = _section(raw, "server")
    server = ServerConfig(
        host=_take(s, "server", "host", str, "127.0.0.1", bool, "a host name or address"),
        port=_take(s, "server", "port", int, 8080, lambda p: 0 <= p <= 65535, "a port number 0-65535"),
        worker=_take(s, "server", "worker", bool, True, expected="true or false"),
    )
    _no_extra(s, "server", _keys(ServerConfig))

    d = _section(raw, "database")
    url = _take(d, "database", "url", str, DatabaseConfig.url)
    if not (url.startswith("sqlite+aiosqlite://") or url.startswith("postgresql+asyncpg://")):
        raise ConfigError("database.url", "a sqlite+aiosqlite:// or postgresql+asyncpg:// URL", url)
    database = DatabaseConfig(
        url=url, pool_size=_take(d, "database", "pool_size", int, 10, _positive, "a positive integer"),
        batch_max=_take(d, "database", "batch_max", int, DatabaseConfig.batch_max, lambda v: 1 <= v <= 1000,
                        "an integer 1-1000 (1 = a transaction per request)"),
        batch_wait_ms=_take(d, "database", "batch_wait_ms", float, DatabaseConfig.batch_wait_ms,
                            lambda v: 0 <= v <= 100, "milliseconds 0-100"),
    )
    _no_extra(d, "database", _keys(DatabaseConfig))

    w = _section(raw, "wechat")
    token = _take(w, "wechat", "token", str, "")
    if not token or not token.isalnum() or not 3 <= len(token) <= 32:
        raise ConfigError("wechat.token", "3-32 letters or digits, as set in the WeChat admin console", token)
    aes_key = _take(w, "wechat", "encoding_aes_key", str, "")
    if aes_key and (len(aes_key) != 43 or not aes_key.isalnum()):
        raise ConfigError("wechat.encoding_aes_key", "empty (plaintext mode) or 43 letters and digits", aes_key)
    app_id = _take(w, "wechat", "app_id", str, "")
    if aes_key and not app_id:
        raise ConfigError("wechat.app_id", "the account's AppID (needed when encoding_aes_key is set)")
    path = _take(w, "wechat", "path", str, "/wechat", lambda p: p.startswith("/"), "a URL path starting with /")
    api_base = _take(w, "wechat", "api_base_url", str, WechatConfig.api_base_url,
                     lambda u: u.startswith(("http://", "https://")), "an http:// or https:// URL")
    templates = _take(w, "wechat", "templates", dict, {}, expected="a table of notice kind = template id")
    for k, v in templates.items():
        if k not in NOTICE_KINDS:
            raise _unknown(f"wechat.templates.{k}", k, NOTICE_KINDS, "a notice kind")
        if not isinstance(v, str):
            raise ConfigError(f"wechat.templates.{k}", "a template id string", v)
    wechat = WechatConfig(
        token=token,
        app_id=app_id,
        app_secret=_take(w, "wechat", "app_secret", str, ""),
        encoding_aes_key=aes_key,
        path=path,
        api_base_url=api_base.rstrip("/"),
        replay_window_s=_take(w, "wechat", "replay_window_s", int, 300, _positive, "a positive number of seconds"),
        max_body_bytes=_take(w, "wechat", "max_body_bytes", int, 65536, lambda v: v >= 1024,
                             "a number of bytes >= 1024"),
        api_timeout_s=_take(w, "wechat", "api_timeout_s", float, 5.0, _positive, "a positive number of seconds"),
        require_aes=_take(w, "wechat", "require_aes", bool, False, expected="true or false"),
        header_timeout_s=_take(w, "wechat", "header_timeout_s", float, 10.0, _positive,
                               "a positive number of seconds"),
        body_timeout_s=_take(w, "wechat", "body_timeout_s", float, 10.0, _positive, "a positive number of seconds"),
        max_connections=_take(w, "wechat", "max_connections", int, 1000, _positive, "a positive integer"),
        templates=dict(templates),
    )
    _no_extra(w, "wechat", _keys(WechatConfig))
    if wechat.require_aes and not aes_key:
        raise ConfigError("wechat.require_aes", "false unless wechat.encoding_aes_key is set (safe mode)", True)

    c = _section(raw, "wecom")
    wecom = WecomConfig(
        corp_id=_take(c, "wecom", "corp_id", str, ""),
        corp_secret=_take(c, "wecom", "corp_secret", str, ""),
        agent_id=_take(c, "wecom", "agent_id", int, 0, lambda v: v >= 0, "a non-negative integer"),
        api_base_url=_take(c, "wecom", "api_base_url", str, WecomConfig.api_base_url,
                           lambda u: u.startswith(("http://", "https://")), "an http:// or https:// URL").rstrip("/"),
    )
    _no_extra(c, "wecom", _keys(WecomConfig))

    n = _section(raw, "nlp")
    rules_file = _take(n, "nlp", "rules_file", str, "")
    if rules_file and not Path(rules_file).is_file():
        raise ConfigError("nlp.rules_file", "an existing TOML file of keyword rules", rules_file)
    nlp = NlpConfig(
        rules_file=rules_file,
        confidence_threshold=_take(n, "nlp", "confidence_threshold", float, 0.35, lambda v: 0 <= v <= 1,
                                   "a number between 0 and 1"),
    )
    _no_extra(n, "nlp", _keys(NlpConfig))

    t = _section(raw, "tickets")
    categories = _categories(rules_file)
    first = _take(t, "tickets", "category_first_level", dict, {"policy": "staff", "other": "staff"},
                  expected="a table of category = level")
    for k, v in first.items():
        if k not in categories:
            raise _unknown(f"tickets.category_first_level.{k}", k, categories, "a category code")
        if v not in LEVELS:
            raise ConfigError(f"tickets.category_first_level.{k}", "one of " + ", ".join(LEVELS), v)
    deadlines_raw = _take(t, "tickets", "deadlines", dict, {}, expected="a table of deadline rules")
    deadlines = dict(TicketsConfig().deadlines)
    for k, v in deadlines_raw.items():
        key = f"tickets.deadlines.{k}"
        if k not in DEADLINE_RULES and k not in categories:
            raise _unknown(key, k, (*DEADLINE_RULES, *categories), "default, urgent or a category code")
        if not isinstance(v, dict):
            raise ConfigError(key, "a table with accept_h and resolve_h", v)
        v = dict(v)
        rule_keys = ("accept_h", "resolve_h")
        _no_extra({name: x for name, x in v.items() if name not in rule_keys}, key, rule_keys)  # a typo first
        rule = DeadlineRule(
            accept_h=_take(v, key, "accept_h", float, None, _positive, "a positive number of hours"),
            resolve_h=_take(v, key, "resolve_h", float, None, _positive, "a positive number of hours"),
        )
        _no_extra(v, key, ("accept_h", "resolve_h"))
        deadlines[k] = rule
    holidays = _take(t, "tickets", "holidays", list, [], expected="a list of YYYY-MM-DD dates")
    for h in holidays:
        try:
            date.fromisoformat(h) if isinstance(h, str) and len(h) == 10 else date.fromisoformat("")
        except ValueError:
            raise ConfigError("tickets.holidays", "a list of YYYY-MM-DD dates", h) from None
    unplaced = _take(t, "tickets", "unplaced_staff_phones", list, [], expected="a list of staff phone numbers")
    for phone in unplaced:
        if not isinstance(phone, str) or not phone.isdigit():
            raise ConfigError("tickets.unplaced_staff_phones", "a list of phone numbers as strings", phone)
    tickets = TicketsConfig(
        category_first_level=dict(first),
        unplaced_staff_phones=tuple(unplaced),
        media_attach_window_min=_take(t, "tickets", "media_attach_window_min", int, 30, _positive,
                                      "a positive number of minutes"),
        merge_window_h=_take(t, "tickets", "merge_window_h", float, 48.0, lambda v: v >= 0,
                             "a number of hours >= 0 (0 turns merging off)"),
        merge_similarity=_take(t, "tickets", "merge_similarity", float, 0.3, lambda v: 0 < v <= 1,
                               "a number in (0, 1]"),
        followup_close_days=_take(t, "tickets", "followup_close_days", int, 7, _positive,
                                  "a positive number of days"),
        urge_escalate_after=_take(t, "tickets", "urge_escalate_after", int, 2, _positive,
                                  "a positive number of urges"),
        urge_cooldown_min=_take(t, "tickets", "urge_cooldown_min", float, 30.0, lambda v: v >= 0,
                                "a number of minutes >= 0 (0 = no cooldown)"),
        deadlines=deadlines,
        holidays=tuple(holidays),
        workday_start=_take(t, "tickets", "workday_start", str, "08:30", _hhmm, "a time HH:MM"),
        workday_end=_take(t, "tickets", "workday_end", str, "17:30", _hhmm, "a time HH:MM"),
        timezone=_take(t, "tickets", "timezone", str, "Asia/Shanghai", _zone, "a time zone name such as Asia/Shanghai"),
    )
    _no_extra(t, "tickets", _keys(TicketsConfig))
    if _minutes(tickets.workday_end) <= _minutes(tickets.workday_start):
        raise ConfigError("tickets.workday_end", f"a time after workday_start ({tickets.workday_start})",
                          tickets.workday_end)

    o = _section(raw, "delivery")
    delivery = DeliveryConfig(
        poll_interval_s=_take(o, "delivery", "poll_interval_s", float, 0.2, _positive, "a positive number"),
        batch_size=_take(o, "delivery", "batch_size", int, 50, _positive, "a positive integer"),
        max_attempts=_take(o, "delivery", "max_attempts", int, 8, _positive, "a positive integer"),
        backoff_base_s=_take(o, "delivery", "backoff_base_s", float, 2.0, _positive, "a positive number"),
        backoff_max_s=_take(o, "delivery", "backoff_max_s", float, 600.0, _positive, "a positive number"),
        claim_timeout_s=_take(o, "delivery", "claim_timeout_s", float, 60.0, _positive, "a positive number"),
        redis_url=_take(o, "delivery", "redis_url", str, "", lambda u: u == "" or u.startswith("redis://"),
                        "empty or a redis:// URL"),
    )
    _no_extra(o, "delivery", _keys(DeliveryConfig))

    k = _section(raw, "console")
    console = ConsoleConfig(
        base_url=_take(k, "console", "base_url", str, "", lambda u: u == "" or u.startswith(("http://", "https://")),
                       "empty or an http:// or https:// URL").rstrip("/"),
        link_ttl_min=_take(k, "console", "link_ttl_min", int, 10, _positive, "a positive number of minutes"),
        idle_timeout_min=_take(k, "console", "idle_timeout_min", int, 120, _positive,
                               "a positive number of minutes"),
        secure_cookie=_take(k, "console", "secure_cookie", bool, True, expected="true or false"),
        poll_interval_s=_take(k, "console", "poll_interval_s", int, 5, _positive, "a positive number of seconds"),
    )
    _no_extra(k, "console", _keys(ConsoleConfig))

    h = _section(raw, "chat")
    chat = ChatConfig(
        pending_minutes=_take(h, "chat", "pending_minutes", float, 5.0, _positive, "a positive number of minutes"),
        followup_hours=_take(h, "chat", "followup_hours", float, 72.0, _positive, "a positive number of hours"),
    )
    _no_extra(h, "chat", _keys(ChatConfig))

    g = _section(raw, "security")
    count = "a positive integer"
    security = SecurityConfig(
        invite_failures_per_openid=_take(g, "security", "invite_failures_per_openid", int, 5, _positive, count),
        invite_failures_overall=_take(g, "security", "invite_failures_overall", int, 50, _positive, count),
        invite_failure_window_min=_take(g, "security", "invite_failure_window_min", float, 60.0, _positive,
                                        "a positive number of minutes"),
        messages_per_minute=_take(g, "security", "messages_per_minute", int, 20, _positive, count),
        tickets_per_hour=_take(g, "security", "tickets_per_hour", int, 10, _positive, count),
        failed_notice_max_attempts=_take(g, "security", "failed_notice_max_attempts", int, 20, _positive, count),
        probe_interval_s=_take(g, "security", "probe_interval_s", float, 30.0, _positive, "a positive number"),
        probe_interval_max_s=_take(g, "security", "probe_interval_max_s", float, 600.0, _positive,
                                   "a positive number"),
    )
    _no_extra(g, "security", _keys(SecurityConfig))

    visits = _visits(_section(raw, "visits"))

    if raw:
        section = sorted(raw)[0]
        guess = closest(section, _keys(Config))
        hint = f"; did you mean [{guess}]?" if guess else ""
        raise ConfigError(section, f"no such section (check config.example.toml){hint}")
    return Config(server, database, wechat, wecom, nlp, tickets, delivery, console=console, chat=chat, source=source,
                  security=security, visits=visits)


def _visits(v: dict[str, Any]) -> VisitsConfig:
    intervals = _take(v, "visits", "intervals", dict, dict(VisitsConfig().intervals),
                      expected="a table of 关爱对象 mark = days between visits")
    for mark, days in intervals.items():
        if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
            raise ConfigError(f"visits.intervals.{mark}", "a positive number of days", days)
    visits = VisitsConfig(
        intervals=dict(intervals),
        default_days=_take(v, "visits", "default_days", int, 30, _positive, "a positive number of days"),
        grace_days=_take(v, "visits", "grace_days", int, 3, _positive, "a positive number of days"),
    )
    _no_extra(v, "visits", _keys(VisitsConfig))
    return visits


def _env_overrides(raw: dict[str, Any]) -> None:
    """Environment variables used by the load harness and containers."""
    mapping = {
        "WECHAT_TOKEN": ("wechat", "token", str),
        "WECHAT_APPID": ("wechat", "app_id", str),
        "WECHAT_AES_KEY": ("wechat", "encoding_aes_key", str),
        "LIANXIN_DATABASE_URL": ("database", "url", str),
        "PORT": ("server", "port", int),
    }
    for env, (section, key, kind) in mapping.items():
        if env in os.environ:
            value = os.environ[env]
            try:
                typed: Any = kind(value)
            except ValueError:
                raise ConfigError(f"{section}.{key}", f"a {kind.__name__} in ${env}", value) from None
            raw.setdefault(section, {})[key] = typed


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), "a UTF-8 text file") from None


def load(path: Path | str | None = None, *, use_env: bool = True) -> Config:
    """Load config: config.example.toml's values as defaults, overlaid by the
    given file (or ./config.toml when none is given), then the environment."""
    chosen: Path | None
    if path is not None:
        chosen = Path(path)
        if not chosen.is_file():
            raise ConfigError("--config", "an existing TOML file", str(chosen))
    else:
        chosen = DEFAULT_PATH if DEFAULT_PATH.is_file() else None
    raw: dict[str, Any] = _read_toml(EXAMPLE_PATH) if EXAMPLE_PATH.is_file() else {}
    if chosen is not None and chosen.resolve() != EXAMPLE_PATH:
        raw = _merge(raw, _read_toml(chosen))
    if use_env:
        _env_overrides(raw)
    return parse(raw, str(chosen) if chosen else str(EXAMPLE_PATH))
