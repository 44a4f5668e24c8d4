"""Parse every YAML file of an inventory directory before Ansible does.

ansible-inventory reports a YAML error in group_vars without naming the file; parsing each file
here first gives the operator ``file:line:column`` and the parser's words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from agent.inventory.problems import Problem

YAML_SUFFIXES = {".yml", ".yaml", ".json", ""}


class _AnsibleYamlLoader(yaml.SafeLoader):
    """SafeLoader that knows Ansible's own tags (values are not needed here, only syntax)."""


def _tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


for _tag in ("!vault", "!unsafe", "!vault-encrypted"):
    _AnsibleYamlLoader.add_constructor(_tag, _tagged)


def inventory_files(root: Path) -> list[Path]:
    """The files Ansible reads as inventory sources and variables under `root`."""
    if root.is_file():
        return [root]
    files = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.startswith(".") or path.suffix not in YAML_SUFFIXES:
            continue
        if path.suffix == "" and path.parent.name not in {"group_vars", "host_vars"}:
            continue
        files.append(path)
    return files


def check_yaml(root: Path) -> list[Problem]:
    problems = []
    for path in inventory_files(root):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), "", "(file)", f"cannot read: {exc}"))
            continue
        if text.lstrip().startswith("$ANSIBLE_VAULT"):
            continue  # a whole-file vault; ansible-inventory decrypts and parses it
        try:
            yaml.load(text, Loader=_AnsibleYamlLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            problems.append(Problem(where, "", "(YAML)", f"{exc.problem or exc}"))
        except yaml.YAMLError as exc:
            problems.append(Problem(str(path), "", "(YAML)", str(exc)))
    return problems
