"""Which file defines a variable for a host.

ansible-inventory resolves variables but does not say where each came from. To name the file
in a problem report, look where Ansible would: host_vars, the host's entry in an inventory
source, group_vars of its groups from the most specific to ``all``, then inline group vars.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agent.inventory.yamlcheck import _AnsibleYamlLoader, inventory_files


def _load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
        if text.lstrip().startswith("$ANSIBLE_VAULT"):
            return None
        return yaml.load(text, Loader=_AnsibleYamlLoader)  # noqa: S506 - SafeLoader subclass
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _line_of(path: Path, key: str) -> str:
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*:", re.MULTILINE)
    try:
        match = pattern.search(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return str(path)
    if match is None:
        return str(path)
    return f"{path}:{match.string.count(chr(10), 0, match.start()) + 1}"


def _walk_groups(node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(group, group node) pairs of a YAML inventory source, nested children included."""
    if not isinstance(node, dict):
        return
    for name, body in node.items():
        if isinstance(body, dict):
            yield str(name), body
            yield from _walk_groups(body.get("children"))


@dataclass
class OriginFinder:
    root: Path
    group_depth: Mapping[str, int]
    _cache: dict[Path, Any] = field(default_factory=dict)

    def _data(self, path: Path) -> Any:
        if path not in self._cache:
            self._cache[path] = _load(path)
        return self._cache[path]

    def _vars_files(self, kind: str, name: str) -> list[Path]:
        base = self.root / kind
        files = [base / f"{name}{suffix}" for suffix in ("", ".yml", ".yaml", ".json")]
        found = [p for p in files if p.is_file()]
        folder = base / name
        if folder.is_dir():
            found.extend(sorted(p for p in folder.rglob("*") if p.is_file()))
        return found

    def _sources(self) -> list[Path]:
        if self.root.is_file():
            return [self.root]
        return [
            p
            for p in inventory_files(self.root)
            if not {"group_vars", "host_vars"} & set(p.relative_to(self.root).parts)
        ]

    def _in_vars_files(self, kind: str, name: str, variable: str) -> str:
        for path in self._vars_files(kind, name):
            data = self._data(path)
            if isinstance(data, dict) and variable in data:
                return _line_of(path, variable)
        return ""

    def _inline(self, variable: str, host: str, groups: Sequence[str]) -> tuple[str, str]:
        """(file defining it as a host var, file defining it as an inline group var)."""
        as_host = as_group = ""
        for path in self._sources():
            for group, body in _walk_groups(self._data(path)):
                hosts = body.get("hosts")
                entry = hosts.get(host) if isinstance(hosts, dict) else None
                if not as_host and isinstance(entry, dict) and variable in entry:
                    as_host = _line_of(path, variable)
                group_vars = body.get("vars")
                in_group = isinstance(group_vars, dict) and variable in group_vars
                if not as_group and in_group and group in [*groups, "all"]:
                    as_group = _line_of(path, variable)
        return as_host, as_group

    def find(self, host: str, groups: Sequence[str], variable: str) -> str:
        """`path:line` of the definition that wins for `host`, or "" if none is found."""
        found = self._in_vars_files("host_vars", host, variable)
        if found:
            return found
        as_host, as_group = self._inline(variable, host, groups)
        if as_host:
            return as_host
        ordered = sorted(groups, key=lambda g: -self.group_depth.get(g, 0))
        for group in [*ordered, "all"]:
            found = self._in_vars_files("group_vars", group, variable)
            if found:
                return found
        return as_group
