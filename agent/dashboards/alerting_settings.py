"""``netmon_alerting``: who Grafana notifies, and how alerts are routed to them.

It lives in the inventory beside ``netmon_sla`` (group_vars/all/alerting.yml), is read by the
inventory loader (agent.inventory.servicecheck.read_alerting) and turned into Grafana's
contact points and notification policies by agent.dashboards.contacts::

    netmon_alerting:
      receivers:                    # a Grafana contact point each; every integration listed
        noc:                        # in one is notified
          email:
            addresses: [noc@example.gov.vn]
            single_email: true      # one mail to all addresses, not one each
          telegram:
            chat_id: "-1001234567890"
            bot_token: "$__file{/etc/grafana/secrets/telegram-noc-bot-token}"
        ioc-webhook:
          webhook:
            url: https://ioc.example.gov.vn/api/alerts
            authorization_credentials: "$__env{NETMON_IOC_WEBHOOK_TOKEN}"
      default_receiver: noc         # alerts without a known `team` label
      teams:                        # the alert rules' `team` label → receiver
        network: {receiver: noc}
        platform: {receiver: noc, repeat_interval: 12h}
      group_by: [alertname, district]
      group_wait: 30s               # wait for more alerts of a new group before notifying
      group_interval: 5m            # between notifications about one group's changes
      repeat_interval: 4h           # before notifying again about a group still firing

Secrets (a Telegram bot token, a webhook's password or credentials) are never written in the
inventory nor in the generated files: only a reference Grafana resolves when it provisions,
``$__file{/absolute/path}`` or ``$__env{VARIABLE}``. A literal is refused, and the error does
not show it.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

VARIABLE = "netmon_alerting"

#: The values of the alert rules' ``team`` label, and so of ``netmon_alerting.teams``.
Team = Literal["network", "services", "videoconference", "platform"]
TEAMS: tuple[Team, ...] = get_args(Team)

#: Grafana resolves these in provisioning files (pkg/services/provisioning/values).
_SECRET_REFERENCE = re.compile(r"\$__file\{/[^{}\s]+\}|\$__env\{[A-Za-z_][A-Za-z0-9_]*\}")
_EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+")
# Prometheus durations, as Grafana's notification policies take them.
_DURATION = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def _secret_reference(value: str) -> str:
    if not _SECRET_REFERENCE.fullmatch(value):
        # Never echo the value: it may be the very token that must not be written anywhere.
        raise ValueError(
            "a literal secret is refused: write $__file{/etc/grafana/secrets/NAME} or "
            "$__env{VARIABLE}, which Grafana reads when it provisions (value not shown)"
        )
    return value


def is_secret_reference(value: str) -> bool:
    """Whether `value` is a ``$__file{/path}`` or ``$__env{NAME}`` reference, not a secret."""
    return _SECRET_REFERENCE.fullmatch(value) is not None


#: A secret as Grafana will find it: ``$__file{/absolute/path}`` or ``$__env{VARIABLE}``.
SecretReference = Annotated[str, AfterValidator(_secret_reference)]


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError("not an e-mail address (name@domain)")
    return value


def _duration(value: str) -> str:
    if not _DURATION.fullmatch(value):
        raise ValueError("expected a duration such as 30s, 5m, 4h or 1h30m")
    return value


Duration = Annotated[str, AfterValidator(_duration)]


def duration_seconds(value: str) -> float:
    """Seconds in a Prometheus duration (``1h30m`` → 5400)."""
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(value))


def _chat_id(value: object) -> object:
    # YAML reads an unquoted chat id (-1001234567890) as a number.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class _Strict(BaseModel):
    # hide_input_in_errors: a refused literal token must not reach a traceback or a log.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class EmailIntegration(_Strict):
    addresses: tuple[Annotated[str, AfterValidator(_email)], ...] = Field(min_length=1)
    #: One message to every address (the NOC mailbox and the duty officers) instead of one each.
    single_email: bool = True


class TelegramIntegration(_Strict):
    #: A group's id (negative, "-100…") or a channel's @name.
    chat_id: Annotated[str, BeforeValidator(_chat_id), Field(pattern=r"^(-?\d+|@\w{5,})$")]
    bot_token: SecretReference
    #: A topic of a forum supergroup, optional.
    message_thread_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class WebhookIntegration(_Strict):
    #: The endpoint; a URL that carries a token is itself a secret reference.
    url: str
    http_method: Literal["POST", "PUT"] = "POST"
    #: HTTP basic authentication ...
    username: str = ""
    password: SecretReference | None = None
    #: ... or an Authorization header (not both: Grafana refuses that).
    authorization_scheme: str = ""
    authorization_credentials: SecretReference | None = None
    #: Alerts per request; 0: all of them.
    max_alerts: int = Field(default=0, ge=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if is_secret_reference(value):
            return value
        # "$" would be read by Grafana's provisioning as a variable; "@" may hide a password.
        if not re.fullmatch(r"https?://[^\s$@]+", value):
            raise ValueError(
                "expected http(s)://HOST/PATH without credentials, or a $__file{}/$__env{} "
                "reference to it (value not shown)"
            )
        return value

    @model_validator(mode="after")
    def _one_authentication(self) -> WebhookIntegration:
        if bool(self.username) != (self.password is not None):
            raise ValueError("basic authentication needs both username and password")
        if self.password is not None and self.authorization_credentials is not None:
            raise ValueError("give basic authentication or authorization_credentials, not both")
        if self.authorization_scheme and self.authorization_credentials is None:
            raise ValueError("authorization_scheme needs authorization_credentials")
        return self


class Receiver(_Strict):
    """A contact point: every integration it lists is notified."""

    email: EmailIntegration | None = None
    telegram: TelegramIntegration | None = None
    webhook: WebhookIntegration | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Receiver:
        if self.email is None and self.telegram is None and self.webhook is None:
            raise ValueError("needs at least one of email, telegram, webhook")
        return self


class TeamRoute(_Strict):
    """Where the alerts of one team go; timings default to the policy's own."""

    receiver: str = Field(min_length=1)
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None


#: Receiver names become contact point names and, prefixed, integration uids (Grafana: at
#: most 40 characters of letters, digits, '-' and '_').
ReceiverName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,23}$")]


class AlertingSettings(_Strict):
    # receivers first: the validators of the fields after it check names against it.
    receivers: dict[ReceiverName, Receiver] = Field(min_length=1)
    default_receiver: str = Field(min_length=1)
    teams: dict[Team, TeamRoute] = Field(default_factory=dict)
    group_by: tuple[str, ...] = ("alertname", "district")
    group_wait: Duration = "30s"
    group_interval: Duration = "5m"
    repeat_interval: Duration = "4h"

    @field_validator("default_receiver")
    @classmethod
    def _known_default(cls, value: str, info: ValidationInfo) -> str:
        known = info.data.get("receivers")
        if known is not None and value not in known:
            raise ValueError(f"no receiver {value!r} in receivers (known: {', '.join(known)})")
        return value

    @field_validator("teams")
    @classmethod
    def _known_team_receivers(
        cls, value: dict[Team, TeamRoute], info: ValidationInfo
    ) -> dict[Team, TeamRoute]:
        known = info.data.get("receivers")
        for team, route in value.items():
            if known is not None and route.receiver not in known:
                raise ValueError(
                    f"{team}.receiver: no receiver {route.receiver!r} in receivers "
                    f"(known: {', '.join(known)})"
                )
        return value

    @model_validator(mode="after")
    def _repeat_after_group_interval(self) -> AlertingSettings:
        # Grafana refuses a policy that would repeat a notification before its group changes.
        policies = [("", self.group_interval, self.repeat_interval)] + [
            (
                f"teams.{team}.",
                route.group_interval or self.group_interval,
                route.repeat_interval or self.repeat_interval,
            )
            for team, route in self.teams.items()
        ]
        for prefix, group_interval, repeat_interval in policies:
            if duration_seconds(repeat_interval) < duration_seconds(group_interval):
                raise ValueError(
                    f"{prefix}repeat_interval {repeat_interval} is shorter than "
                    f"group_interval {group_interval}"
                )
        return self
