"""Reading the Ansible inventory through ansible-runner into the typed model.

``ansible-inventory --list`` (run by ansible-runner's ``get_inventory``) does the Ansible part:
inventory plugins, group_vars and host_vars precedence, whole-file vault decryption. This module
checks the result and reports every problem at once, each naming file, host and field.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from agent.collector import CollectorRegistry
from agent.inventory.model import Host, HostSettings, Inventory
from agent.inventory.origins import OriginFinder
from agent.inventory.problems import InventoryError, Problem
from agent.inventory.secrets import SecretResolutionError, SecretResolver
from agent.inventory.servicecheck import read_alerting, read_services, read_sla
from agent.inventory.yamlcheck import check_yaml
from agent.secret import Secret

_ORIGIN = re.compile(r"Origin: (/[^\s<>]+?)(?::(\d+))?(?::\d+)?\s*$", re.MULTILINE)
_ERROR = re.compile(r"^\[ERROR\]: (.*)$", re.MULTILINE)


def _ansible_env() -> dict[str, str]:
    return {
        # A source that no plugin can parse must fail, not yield an empty inventory.
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
    }


def run_ansible_inventory(path: Path, vault_password_file: Path | None) -> dict[str, Any]:
    """``ansible-inventory --list`` as JSON; raises InventoryError naming the file."""
    import ansible_runner

    # ansible-runner looks for ansible-inventory on PATH: the one installed beside this
    # interpreter (the project's venv) must be found even when the venv is not activated.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    kwargs: dict[str, Any] = {
        "action": "list",
        "inventories": [str(path)],
        "response_format": "json",
        "quiet": True,
        "envvars": _ansible_env(),
    }
    if vault_password_file is not None:
        kwargs["vault_password_file"] = str(vault_password_file)
    # ansible-runner keeps artifacts (the whole --list output, decrypted vault files
    # included) under its private data dir: give it one that is removed right after.
    with tempfile.TemporaryDirectory(prefix="netmon-inventory-") as private:
        # The listing goes to a file: on stdout, ansible-runner would write one event file
        # per line of JSON (87,000 files and 40 s for the 350-host province).
        listing = Path(private) / "listing.json"
        try:
            _out, err = ansible_runner.get_inventory(
                private_data_dir=private, output_file=str(listing), **kwargs
            )
        except Exception as exc:  # ansible-runner raises several unrelated types
            raise InventoryError([Problem(str(path), "", "(ansible)", str(exc))]) from None
        try:
            parsed = json.loads(listing.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            parsed = None
    if isinstance(parsed, dict):
        return parsed
    messages = [m.strip() for m in _ERROR.findall(err or "")] or [
        line for line in (err or "").splitlines() if line.strip()
    ][-3:]
    origin = _ORIGIN.search(err or "")
    where = str(path)
    if origin:
        where = origin.group(1) + (f":{origin.group(2)}" if origin.group(2) else "")
    message = "; ".join(messages) or "ansible-inventory failed without a message"
    raise InventoryError([Problem(where, "", "(ansible-inventory)", message)])


def _children(listing: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        group: list(body.get("children", []))
        for group, body in listing.items()
        if group != "_meta" and isinstance(body, dict)
    }


def _depths(children: Mapping[str, list[str]]) -> dict[str, int]:
    """Each group's depth below ``all`` (more specific groups are deeper)."""
    depth: dict[str, int] = {"all": 0}
    frontier = ["all"]
    while frontier:
        following = []
        for group in frontier:
            for kid in children.get(group, []):
                if kid not in depth:
                    depth[kid] = depth[group] + 1
                    following.append(kid)
        frontier = following
    return depth


def group_maps(listing: Mapping[str, Any]) -> tuple[dict[str, list[str]], dict[str, int]]:
    """host → its groups (ancestors included, ``all`` left out), and group → depth."""
    children = _children(listing)
    parents: dict[str, set[str]] = {}
    for group, kids in children.items():
        for kid in kids:
            parents.setdefault(kid, set()).add(group)

    def with_ancestors(group: str) -> set[str]:
        found, todo = {group}, [group]
        while todo:
            for parent in parents.get(todo.pop(), ()):
                if parent not in found:
                    found.add(parent)
                    todo.append(parent)
        return found

    host_groups: dict[str, set[str]] = {}
    for group, body in listing.items():
        if group != "_meta" and isinstance(body, dict):
            for host in body.get("hosts", []):
                host_groups.setdefault(host, set()).update(with_ancestors(group))
    return (
        {host: sorted(groups - {"all"}) for host, groups in host_groups.items()},
        _depths(children),
    )


class _HostReader:
    """Builds one Host, collecting its problems instead of stopping at the first."""

    def __init__(
        self,
        name: str,
        hostvars: Mapping[str, Any],
        groups: list[str],
        registry: CollectorRegistry,
        resolver: SecretResolver,
        origins: OriginFinder,
    ) -> None:
        self.name = name
        self.hostvars = hostvars
        self.groups = groups
        self.registry = registry
        self.resolver = resolver
        self.origins = origins
        self.problems: list[Problem] = []

    def problem(self, variable: str, message: str, field: str | None = None) -> None:
        file = self.origins.find(self.name, self.groups, variable)
        self.problems.append(Problem(file, self.name, field or variable, message))

    def _pydantic_problems(
        self, exc: ValidationError, variable_of: Any, field_of: Any = None
    ) -> None:
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            variable = variable_of(loc)
            field = field_of(loc) if field_of else variable
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "unknown setting (not one the collector knows)"
            elif error["type"] == "missing" and variable.endswith("_url"):
                # A probe's URL may come from netmon_url: say both ways to give it.
                message = f"required: set {variable}, or the host's netmon_url"
            self.problem(variable, message, field)

    def _unknown_variables(self) -> None:
        # A misspelt netmon_ variable would otherwise be ignored silently.
        known = set(HostSettings.model_fields) | {
            "netmon_credentials",
            "netmon_services",
            "netmon_sla",
            "netmon_alerting",
        }
        prefixes = ("netmon_lab_", *(f"netmon_{name}_" for name in self.registry.names()))
        for variable in self.hostvars:
            if (
                variable.startswith("netmon_")
                and variable not in known
                and not variable.startswith(prefixes)
            ):
                self.problem(variable, "unknown netmon variable (misspelt?)")

    def read(self) -> Host | None:
        self._unknown_variables()
        try:
            settings = HostSettings.model_validate(self.hostvars)
        except ValidationError as exc:
            self._pydantic_problems(exc, lambda loc: loc[0])
            return None
        checks: dict[str, Any] = {}
        for check in settings.netmon_checks:
            if check not in self.registry:
                known = ", ".join(self.registry.names())
                self.problem("netmon_checks", f"unknown check {check!r} (known: {known})")
                continue
            config = self._check_config(check)
            if config is not None:
                checks[check] = config
        address = str(self.hostvars.get("ansible_host") or self.name)
        if self.problems:
            return None
        lab = {
            key.removeprefix("netmon_lab_"): value
            for key, value in self.hostvars.items()
            if key.startswith("netmon_lab_")
        }
        return Host(self.name, address, tuple(self.groups), settings, checks, lab)

    def _credential(self, check: str, set_name: Any) -> dict[str, Any] | None:
        variable = f"netmon_{check}_credential"
        catalogue = self.hostvars.get("netmon_credentials", {})
        if not isinstance(set_name, str) or not isinstance(catalogue, Mapping):
            self.problem(variable, "must name a credential set of netmon_credentials")
            return None
        if set_name not in catalogue:
            known = ", ".join(sorted(catalogue)) or "none defined"
            self.problem(variable, f"unknown credential set {set_name!r} (known: {known})")
            return None
        try:
            resolved = self.resolver.resolve(catalogue[set_name], self.hostvars)
        except SecretResolutionError as exc:
            self.problem("netmon_credentials", str(exc), f"netmon_credentials.{set_name}")
            return None
        if not isinstance(resolved, dict):
            self.problem(
                "netmon_credentials", "must be a mapping", f"netmon_credentials.{set_name}"
            )
            return None
        return {**resolved, "name": set_name}

    def _check_config(self, check: str) -> BaseModel | None:
        prefix = f"netmon_{check}_"
        raw = {k[len(prefix) :]: v for k, v in self.hostvars.items() if k.startswith(prefix)}
        set_name = raw.get("credential")
        if "credential" in raw:
            credential = self._credential(check, set_name)
            if credential is None:
                return None
            raw["credential"] = credential
        model = self.registry.config_model(check)
        # A probe that needs a URL (http, sip) takes the host's netmon_url unless its own
        # netmon_<check>_url says otherwise: a front end is described once.
        # Only a URL of the probe's own kind (url_schemes on its config model): an https
        # front end's URL is no SIP URI.
        url = self.hostvars.get("netmon_url")
        schemes: tuple[str, ...] = getattr(model, "url_schemes", ())
        if "url" not in raw and isinstance(url, str) and url.startswith(schemes) and schemes:
            raw["url"] = url
        try:
            config = model.model_validate(raw)
        except ValidationError as exc:

            def variable_of(loc: list[str]) -> str:
                return "netmon_credentials" if loc[0] == "credential" else prefix + loc[0]

            def field_of(loc: list[str]) -> str:
                if loc[0] == "credential":
                    # loc[1] is the union member's tag ("3" or "community"), not a field.
                    return ".".join(["netmon_credentials", str(set_name), *loc[2:]])
                return prefix + ".".join(loc)

            self._pydantic_problems(exc, variable_of, field_of)
            return None
        for field, message in self.registry.validate(check, config):
            self.problem(prefix + field.split(".")[0], message, prefix + field)
        return config


def _members(host_groups: Mapping[str, list[str]]) -> dict[str, tuple[str, ...]]:
    members: dict[str, list[str]] = {}
    for host, groups in sorted(host_groups.items()):
        for group in groups:
            members.setdefault(group, []).append(host)
    return {group: tuple(hosts) for group, hosts in members.items()}


def _uplink_problems(
    described: Mapping[str, Host], host_groups: Mapping[str, list[str]], origins: OriginFinder
) -> list[Problem]:
    problems = []
    for host in described.values():
        uplink = host.settings.netmon_uplink
        if uplink and uplink not in host_groups:
            file = origins.find(host.name, host.groups, "netmon_uplink")
            problems.append(
                Problem(file, host.name, "netmon_uplink", f"no inventory host {uplink!r}")
            )
        elif uplink == host.name:
            file = origins.find(host.name, host.groups, "netmon_uplink")
            problems.append(Problem(file, host.name, "netmon_uplink", "a host cannot be its own"))
        elif _uplink_loop(host.name, described):
            # Outages are attributed up the chain of uplinks (agent.sla): it must end.
            file = origins.find(host.name, host.groups, "netmon_uplink")
            message = f"the chain of uplinks from {host.name} comes back to it (a loop)"
            problems.append(Problem(file, host.name, "netmon_uplink", message))
    return problems


def _uplink_loop(start: str, described: Mapping[str, Host]) -> bool:
    seen = {start}
    current = described[start].settings.netmon_uplink
    while current and current in described:
        if current in seen:
            return current == start
        seen.add(current)
        current = described[current].settings.netmon_uplink
    return False


def _duplicate_endpoints(hosts: Mapping[str, Host], origins: OriginFinder) -> list[Problem]:
    seen: dict[tuple[str, str, object], str] = {}
    problems = []
    for host in hosts.values():
        for check, config in host.checks.items():
            key = (check, host.address, getattr(config, "port", None))
            if key in seen:
                file = origins.find(host.name, host.groups, "ansible_host")
                port = f" port {key[2]}" if key[2] is not None else ""
                problems.append(
                    Problem(
                        file,
                        host.name,
                        "ansible_host",
                        f"duplicate address {host.address}{port} for check {check}: "
                        f"host {seen[key]} has it too",
                    )
                )
            else:
                seen[key] = host.name
    return problems


def _fleet_problems(
    hosts: Mapping[str, Host], registry: CollectorRegistry, origins: OriginFinder
) -> list[Problem]:
    problems = []
    for check in registry.names():
        configs = {name: host.checks[check] for name, host in hosts.items() if check in host.checks}
        for name, field, message in registry.validate_fleet(check, configs):
            variable = f"netmon_{check}_{field}"
            file = origins.find(name, hosts[name].groups, variable)
            problems.append(Problem(file, name, variable, message))
    return problems


def load_inventory(
    path: Path,
    registry: CollectorRegistry,
    *,
    vault_password_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Inventory:
    """Read and validate the inventory at `path`; raise InventoryError with every problem."""
    if not path.exists():
        raise InventoryError([Problem(str(path), "", "(path)", "inventory not found")])
    problems = check_yaml(path)
    if problems:
        raise InventoryError(problems)
    vault_password = None
    if vault_password_file is not None:
        try:
            vault_password = Secret(vault_password_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError) as exc:
            raise InventoryError(
                [Problem(str(vault_password_file), "", "vault_password_file", str(exc))]
            ) from None
    listing = run_ansible_inventory(path, vault_password_file)
    host_groups, depth = group_maps(listing)
    origins = OriginFinder(path if path.is_dir() else path.parent, depth)
    resolver = SecretResolver(
        vault_password,
        path if path.is_dir() else path.parent,
        dict(os.environ if environ is None else environ),
    )
    hostvars: Mapping[str, Any] = listing.get("_meta", {}).get("hostvars", {})
    described: dict[str, Host] = {}
    unmonitored = []
    for name in sorted(set(host_groups) | set(hostvars)):
        variables = hostvars.get(name, {})
        if not variables.get("netmon_checks"):
            unmonitored.append(name)
            # A host with a site is part of the province (a videoconference point, a service
            # front end): described and checked, though nothing polls it yet.
            if "netmon_site" not in variables:
                continue
        reader = _HostReader(
            name, variables, host_groups.get(name, []), registry, resolver, origins
        )
        host = reader.read()
        problems.extend(reader.problems)
        if host is not None:
            described[name] = host
    hosts = {name: host for name, host in described.items() if host.checks}
    members = _members(host_groups)
    problems.extend(_uplink_problems(described, host_groups, origins))
    services, service_problems = read_services(hostvars, members, origins)
    problems.extend(service_problems)
    sla, overrides, sla_problems = read_sla(
        hostvars, members, services, origins, path if path.is_dir() else path.parent
    )
    problems.extend(sla_problems)
    alerting, alerting_problems = read_alerting(hostvars, origins)
    problems.extend(alerting_problems)
    problems.extend(_duplicate_endpoints(hosts, origins))
    problems.extend(_fleet_problems(hosts, registry, origins))
    if problems:
        raise InventoryError(problems)
    return Inventory(
        str(path),
        hosts,
        tuple(unmonitored),
        described,
        services,
        members,
        sla,
        overrides,
        alerting,
    )
