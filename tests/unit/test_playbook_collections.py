"""playbooks/collections/requirements.yml pins exactly what the pinned `ansible` package installs.

Galaxy is unreachable from the province, so the collections come from PyPI's `ansible` package
(pyproject.toml); the requirements file lets an environment with Galaxy install the same
versions. This fails when a pin drifts from the installed collection, or names one not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.ansible

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
REQUIREMENTS = PLAYBOOKS / "collections" / "requirements.yml"


def installed_collections() -> dict[str, str]:
    """{name: version} as `ansible-galaxy collection list` reports it from playbooks/."""
    listed = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-galaxy")),
            "collection",
            "list",
            "--format",
            "json",
        ],
        cwd=PLAYBOOKS,  # its ansible.cfg sets the collection path
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    by_path: dict[str, dict[str, dict[str, Any]]] = json.loads(listed.stdout)
    versions: dict[str, str] = {}
    for collections in by_path.values():
        for name, info in collections.items():
            versions.setdefault(name, str(info["version"]))  # the first path wins, as in Ansible
    return versions


def test_every_pin_is_the_installed_version() -> None:
    requirements = yaml.safe_load(REQUIREMENTS.read_text())["collections"]
    pinned = {entry["name"]: str(entry["version"]) for entry in requirements}
    assert {"cisco.ios", "ansible.netcommon", "ansible.utils", "community.general"} <= set(pinned)
    installed = installed_collections()
    assert {name: installed.get(name) for name in pinned} == pinned


def test_pins_are_exact_versions() -> None:
    for entry in yaml.safe_load(REQUIREMENTS.read_text())["collections"]:
        assert str(entry["version"]).count(".") == 2, entry
        assert str(entry["version"]).replace(".", "").isdigit(), entry
