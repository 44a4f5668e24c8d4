"""Running `playbooks/snmp.yml` through ansible-runner on a throw-away inventory."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

PLAYBOOKS = Path(__file__).resolve().parents[1] / "playbooks"
#: The venv's bin: ansible-runner finds ansible-playbook (and ansible-connection) on PATH.
BIN = Path(sys.executable).parent


def run_snmp_playbook(
    private_dir: Path, inventory: dict[str, Any], secrets: Iterable[str]
) -> ansible_runner.Runner:
    """Run snmp.yml on `inventory`; it must succeed everywhere, and no event may hold any of
    `secrets` (no_log), not even masked inside a module's result."""
    (private_dir / "inventory").mkdir(parents=True, exist_ok=True)
    (private_dir / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))
    run = ansible_runner.run(
        private_data_dir=str(private_dir),
        project_dir=str(PLAYBOOKS),
        playbook="snmp.yml",
        quiet=True,
        timeout=300,
    )
    assert run.status == "successful", run.stdout.read()
    assert run.stats is not None
    assert run.stats["failures"] == {} and run.stats["dark"] == {}
    hidden = list(secrets)
    for event in run.events:
        text = str(event)
        for secret in hidden:
            assert secret not in text
    return run
