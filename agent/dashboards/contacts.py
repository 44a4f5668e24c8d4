"""Grafana contact points and the notification policy tree, from ``netmon_alerting`` and the
inventory's maintenance windows.

Both are file-provisioning documents (apiVersion 1, "Use configuration files to provision
alerting resources"): ``contactPoints:`` and ``policies:``. Provisioning ``policies`` replaces
the organisation's whole tree.

Labels the alert rules must carry: ``team`` (network | services | videoconference |
platform: picks the receiver), ``site`` (the inventory's site code) and, for a service's
alerts, ``service`` (its catalogue id): maintenance windows are matched on those two;
``alertname`` and ``site`` group notifications.

How Grafana routes an alert (Alertmanager semantics, which Grafana 11 keeps)
----------------------------------------------------------------------------
1. Every alert enters the root (default) policy. Its child policies are tried in order; the
   alert goes into the **first** whose matchers all match (an absent label matches as "").
   Only when that child has ``continue: true`` are the next siblings tried as well, and each
   further match is another, independent delivery.
2. Inside a matching child the same happens with its children, recursively. A policy none of
   whose children match delivers the alert itself, to its receiver (inherited from its
   parent when it names none); group_by and the timings are inherited the same way.
3. A policy's ``mute_time_intervals`` apply only to the notifications **that policy
   delivers**. They are *not* inherited by its children (grafana/grafana#79295, as in
   Prometheus' Alertmanager), and the root policy may have none.

Hence a "mute route" with ``continue: true`` placed before the team routes would not silence
anything: the alert would be delivered once by the mute route (muted) and once more by its
team route (not muted). Instead, every mute route sits *inside* each delivering policy, with
``continue: false``: an alert of a team goes to its team policy, then to the one mute route
for its labels, and that route delivers it to the team's receiver (inherited), muted during
the windows it lists; an alert no mute route matches is delivered by the team policy itself,
never muted. Alerts with no known ``team`` meet the same mute routes after the team policies,
directly under the root, and reach the default receiver. Each alert is delivered exactly
once. An alert covered by several windows (its site's and its service's) must find all of
them in that one route: the routes are keyed by the exact set of windows (mute_routes),
site routes first, each holding the service routes that add windows of a service.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from agent.dashboards.alerting_settings import AlertingSettings, Receiver
from agent.dashboards.mute import window_mutes
from agent.inventory.model import Inventory

#: The labels the generated policies match on; every alert rule sets team and site.
ROUTING_LABELS = ("team", "site", "service")
# Go's regexp.QuoteMeta set, but '$' as "[$]": Grafana's provisioning reads "$x" as a variable.
_REGEX_META = frozenset("\\.+*?()|[]{}^")


def _integrations(name: str, receiver: Receiver) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if receiver.email is not None:
        settings: dict[str, Any] = {
            "addresses": ";".join(receiver.email.addresses),
            "singleEmail": receiver.email.single_email,
        }
        found.append({"type": "email", "settings": settings})
    if receiver.telegram is not None:
        settings = {"bottoken": receiver.telegram.bot_token, "chatid": receiver.telegram.chat_id}
        if receiver.telegram.message_thread_id is not None:
            settings["message_thread_id"] = str(receiver.telegram.message_thread_id)
        found.append({"type": "telegram", "settings": settings})
    if receiver.webhook is not None:
        hook = receiver.webhook
        settings = {"url": hook.url, "httpMethod": hook.http_method}
        if hook.password is not None:
            settings |= {"username": hook.username, "password": hook.password}
        if hook.authorization_credentials is not None:
            settings["authorization_credentials"] = hook.authorization_credentials
            settings["authorization_scheme"] = hook.authorization_scheme or "Bearer"
        if hook.max_alerts:
            settings["maxAlerts"] = hook.max_alerts
        found.append({"type": "webhook", "settings": settings})
    return [
        {
            # Stable uids: re-provisioning updates the integration instead of replacing it.
            "uid": f"netmon-{name}-{integration['type']}",
            "type": integration["type"],
            "settings": integration["settings"],
            "disableResolveMessage": False,
        }
        for integration in found
    ]


def contact_points(alerting: AlertingSettings, *, org_id: int = 1) -> dict[str, Any]:
    """The ``contactPoints:`` document: one contact point per receiver, sorted by name."""
    return {
        "apiVersion": 1,
        "contactPoints": [
            {"orgId": org_id, "name": name, "receivers": _integrations(name, receiver)}
            for name, receiver in sorted(alerting.receivers.items())
        ],
    }


def label_regex(values: Iterable[str]) -> str:
    """An RE2 alternation matching exactly `values`: ``^(?:a|b\\.c)$``.

    Alertmanager anchors ``=~`` matchers itself; the explicit anchors say so to a reader and
    cost nothing. The final ``$`` is safe from Grafana's provisioning interpolation (a "$"
    ending a string is left alone), and a "$" in a value is written ``[$]``.
    """
    quoted = (
        "".join("[$]" if c == "$" else "\\" + c if c in _REGEX_META else c for c in v)
        for v in sorted(values)
    )
    return "^(?:" + "|".join(quoted) + ")$"


def _grouped(names_of: dict[str, set[str]]) -> list[tuple[frozenset[str], list[str]]]:
    """Label values grouped by the exact set of windows muting them, in a stable order."""
    groups: dict[frozenset[str], list[str]] = {}
    for value, names in sorted(names_of.items()):
        groups.setdefault(frozenset(names), []).append(value)
    return sorted(groups.items(), key=lambda item: (sorted(item[0]), item[1]))


def mute_routes(inventory: Inventory) -> list[dict[str, Any]]:
    """Child routes that mute the alerts of each window's sites and services (no receiver:
    they inherit their parent's), to put under every policy that delivers (module docstring)."""
    by_site: dict[str, set[str]] = {}
    by_service: dict[str, set[str]] = {}
    for mute in window_mutes(inventory):
        for site in mute.sites:
            by_site.setdefault(site, set()).add(mute.name)
        for service in mute.services:
            by_service.setdefault(service, set()).add(mute.name)
    service_groups = _grouped(by_service)
    routes = []
    for names, sites in _grouped(by_site):
        route: dict[str, Any] = {
            "object_matchers": [["site", "=~", label_regex(sites)]],
            "mute_time_intervals": sorted(names),
        }
        # An alert of a muted site that also carries a muted service needs both windows in
        # the one route that delivers it.
        both = [
            {
                "object_matchers": [["service", "=~", label_regex(services)]],
                "mute_time_intervals": sorted(names | more),
            }
            for more, services in service_groups
            if not more <= names
        ]
        if both:
            route["routes"] = both
        routes.append(route)
    routes += [
        {
            "object_matchers": [["service", "=~", label_regex(services)]],
            "mute_time_intervals": sorted(names),
        }
        for names, services in service_groups
    ]
    return routes


def notification_policies(
    alerting: AlertingSettings, inventory: Inventory, *, org_id: int = 1
) -> dict[str, Any]:
    """The ``policies:`` document: the whole tree (module docstring), rooted at the default
    receiver, one policy per team, the maintenance mute routes inside each."""
    muting = mute_routes(inventory)
    teams = []
    for team, route in sorted(alerting.teams.items()):
        policy: dict[str, Any] = {
            "receiver": route.receiver,
            "object_matchers": [["team", "=", team]],
        }
        for timing in ("group_wait", "group_interval", "repeat_interval"):
            if getattr(route, timing) is not None:
                policy[timing] = getattr(route, timing)
        if muting:
            # A copy each: a YAML dump would turn shared dicts into anchors and aliases.
            policy["routes"] = copy.deepcopy(muting)
        teams.append(policy)
    root: dict[str, Any] = {
        "orgId": org_id,
        "receiver": alerting.default_receiver,
        "group_by": list(alerting.group_by),
        "group_wait": alerting.group_wait,
        "group_interval": alerting.group_interval,
        "repeat_interval": alerting.repeat_interval,
    }
    if teams or muting:
        root["routes"] = teams + muting
    return {"apiVersion": 1, "policies": [root]}
