"""Run one of the project's playbooks through ansible-runner and report it from its events.

What is shown
    Progress lines are built from ansible-runner's events only: ``PLAY [name]``,
    ``TASK [role : name]`` (``HANDLER [...]``), then one line per host with the outcome word
    ``ok``, ``changed``, ``failed``, ``failed (ignored)``, ``unreachable``, ``skipped``, or
    ``done (no_log)`` when ``no_log`` hides whether the task changed anything. The ``res``
    payload of an event is never printed: only its ``changed`` flag is read. At the end, a
    table per host from ``runner.stats``: ok, changed, unreachable, failed, skipped, rescued,
    ignored (Ansible's recap, so ``ok`` includes ``changed``; in ``--check`` mode ``changed``
    counts what would change).

Where the artifacts go
    ``<state_dir>/provision/<UTC timestamp>-<playbook>/`` (ansible-runner's artifact dir:
    ``stdout``, ``job_events/``, ``command``, ``status``, ``rc``). The newest `keep` runs are
    kept; older ones are removed by name, which sorts by time (ansible-runner's own rotation
    goes by mtime, which any touch reorders).

Secrets
    - The vault password reaches Ansible as ``ANSIBLE_VAULT_PASSWORD_FILE``, a path; Ansible
      reads the file itself. Runner is built from ``RunnerConfig`` directly, so nothing is
      written under ``env/`` (no ``envvars``, ``extravars`` or ``passwords`` file) and no
      extra variable is ever put on the command line: ``--extra-vars-file`` is passed as
      ``-e @FILE``.
    - ansible-runner copies the whole process environment into ansible-playbook's and records
      it in the artifact ``command`` file; the agent's environment may hold secrets
      (``NETMON_INFLUXDB_PASSWORD``, ``NETMON_GRAFANA_TOKEN``...). Only an allow-list is
      inherited (:func:`inherited`): locale, PATH/HOME/USER, ``SSH_AUTH_SOCK`` and
      ``ANSIBLE_*`` except names that look like credentials (``*_FILE`` paths are kept).
    - Values marked ``no_log`` are censored by Ansible (stdout) and by runner's callback
      (``res`` of the events). Facts are cached in memory, not in runner's default
      ``<artifacts>/fact_cache`` JSON files, where a ``cacheable`` ``set_fact`` would write
      its value in clear whatever ``no_log`` says.
    - ansible-runner sets ``ANSIBLE_HOST_KEY_CHECKING=False`` unless the environment says
      otherwise; that is undone, so Ansible's default (check) or ``ansible.cfg`` applies.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PLAYBOOK_SUFFIXES = (".yml", ".yaml")
DEFAULT_KEEP = 20
#: A run's directory: UTC timestamp (sorts by time), then the playbook's name.
RUN_DIR = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-")

_INHERITED = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "SHELL"}
    | {"SSH_AUTH_SOCK", "VIRTUAL_ENV"}
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CREDENTIAL_LIKE = re.compile(r"PASS|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|API_KEY|AUTH")


def default_playbook_dir() -> Path:
    """``playbooks/`` of the source tree this package runs from."""
    return Path(__file__).resolve().parents[2] / "playbooks"


class PlaybookNotFound(LookupError):
    def __init__(self, name: str, directory: Path, available: Sequence[str]) -> None:
        self.name = name
        self.directory = directory
        self.available = list(available)
        known = ", ".join(self.available) if self.available else "none"
        super().__init__(f"no playbook {name!r} in {directory} (available: {known})")


def available_playbooks(directory: Path) -> list[str]:
    """Names (without suffix) of the playbooks at the top of `directory`."""
    if not directory.is_dir():
        return []
    return sorted(
        {
            path.stem
            for path in directory.iterdir()
            if path.is_file() and path.suffix in PLAYBOOK_SUFFIXES and path.name[0] not in "._"
        }
    )


def resolve_playbook(directory: Path, name: str) -> Path:
    """The playbook `name` (``site`` or ``site.yml``) of `directory`; names only, no paths."""
    candidates = (
        [name] if name.endswith(PLAYBOOK_SUFFIXES) else [name + s for s in PLAYBOOK_SUFFIXES]
    )
    if name and "/" not in name and os.sep not in name and not name.startswith("."):
        for candidate in candidates:
            path = directory / candidate
            if path.is_file():
                return path.resolve()
    raise PlaybookNotFound(name, directory, available_playbooks(directory))


def inherited(name: str) -> bool:
    """Whether ansible-playbook inherits the agent's environment variable `name`."""
    if name in _INHERITED or name.startswith("LC_"):
        return True
    if name.startswith("ANSIBLE_"):
        return name.endswith(("_FILE", "_PATH", "_DIR")) or not _CREDENTIAL_LIKE.search(name)
    return False


def runner_environment(
    prepared: Mapping[str, str], parent: Mapping[str, str], ours: Mapping[str, str]
) -> dict[str, str]:
    """ansible-playbook's environment: runner's `prepared` one (a copy of `parent` plus
    runner's and `ours`) without what `parent` holds and :func:`inherited` refuses."""
    dropped = {name for name in parent if not inherited(name)} - ours.keys()
    env = {name: value for name, value in prepared.items() if name not in dropped}
    if "ANSIBLE_HOST_KEY_CHECKING" not in parent and "ANSIBLE_HOST_KEY_CHECKING" not in ours:
        env.pop("ANSIBLE_HOST_KEY_CHECKING", None)
    return env


# --- progress, from events ---------------------------------------------------------------


def _changed(data: Mapping[str, Any]) -> bool | None:
    """The ``changed`` flag of a result; None when no_log censored the result."""
    res = data.get("res")
    if not isinstance(res, Mapping) or "censored" in res:
        return None
    return bool(res.get("changed"))


def _task_title(kind: str, data: Mapping[str, Any]) -> str:
    word = "HANDLER" if kind == "playbook_on_handler_task_start" else "TASK"
    name = data.get("task") or data.get("task_action") or "?"
    role = data.get("role")
    return f"{word} [{role} : {name}]" if role else f"{word} [{name}]"


def progress_line(event: Mapping[str, Any]) -> str | None:
    """The line an event adds to the progress, or None."""
    kind = event.get("event", "")
    data = event.get("event_data") or {}
    host = data.get("host", "?")
    if kind == "playbook_on_play_start":
        return f"PLAY [{data.get('play') or data.get('play_pattern') or ''}]"
    if kind in ("playbook_on_task_start", "playbook_on_handler_task_start"):
        return _task_title(kind, data)
    if kind == "playbook_on_no_hosts_matched":
        return "  no hosts matched"
    if kind == "runner_on_ok":
        changed = _changed(data)
        word = "done (no_log)" if changed is None else "changed" if changed else "ok"
        return f"  {word}: {host}"
    if kind in ("runner_on_failed", "runner_on_async_failed"):
        return f"  failed{' (ignored)' if data.get('ignore_errors') else ''}: {host}"
    if kind == "runner_on_unreachable":
        return f"  unreachable: {host}"
    if kind == "runner_on_skipped":
        return f"  skipped: {host}"
    return None


@dataclass
class Progress:
    """ansible-runner's ``event_handler``: hands a line per event to `emit`."""

    emit: Callable[[str], None]
    plays_started: int = 0
    #: Ansible's own error messages (``[ERROR]``, ``Origin:``), not those of a task's result.
    errors: list[str] = field(default_factory=list)

    def __call__(self, event: dict[str, Any]) -> bool:
        kind = event.get("event")
        if kind == "playbook_on_play_start":
            self.plays_started += 1
        elif kind in ("verbose", "error"):
            # Not a task's result (those come as runner_on_* events): Ansible's own message.
            text = _ANSI.sub("", str(event.get("stdout", ""))).strip()
            if text.startswith(("ERROR!", "[ERROR]", "Origin:")):
                self.errors.append(text)
        line = progress_line(event)
        if line is not None:
            self.emit(line)
        return True  # runner keeps the event in job_events/


# --- summary, from stats -----------------------------------------------------------------

#: Column of the summary → key of ``runner.stats`` (Ansible's AggregateStats).
STAT_COLUMNS = {
    "ok": "ok",
    "changed": "changed",
    "unreachable": "dark",
    "failed": "failures",
    "skipped": "skipped",
    "rescued": "rescued",
    "ignored": "ignored",
}


@dataclass(frozen=True)
class HostSummary:
    host: str
    ok: int = 0
    changed: int = 0
    unreachable: int = 0
    failed: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


def summarize(stats: Mapping[str, Mapping[str, int]] | None) -> list[HostSummary]:
    """One row per host of ``runner.stats``, sorted by host."""
    if not stats:
        return []
    hosts = sorted({host for counts in stats.values() for host in counts})
    return [
        HostSummary(
            host,
            **{
                column: int(stats.get(key, {}).get(host, 0)) for column, key in STAT_COLUMNS.items()
            },
        )
        for host in hosts
    ]


def summary_table(rows: Sequence[HostSummary]) -> str:
    header = ["host", *STAT_COLUMNS]
    cells = [[row.host, *(str(getattr(row, column)) for column in STAT_COLUMNS)] for row in rows]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    lines = [
        "  ".join(
            text.ljust(width) if i == 0 else text.rjust(width)
            for i, (text, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in [header, *cells]
    ]
    return "\n".join(lines)


# --- the run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProvisionRequest:
    playbook: Path
    inventory: Path
    #: ``<state_dir>/provision``
    artifacts_root: Path
    limit: str | None = None
    check: bool = False
    diff: bool = False
    tags: str | None = None
    extra_vars_file: Path | None = None
    vault_password_file: Path | None = None
    keep: int = DEFAULT_KEEP

    def cmdline(self) -> str | None:
        args = [*(["--check"] * self.check), *(["--diff"] * self.diff)]
        if self.extra_vars_file is not None:
            args += ["-e", f"@{self.extra_vars_file.resolve()}"]
        return shlex.join(args) or None

    def envvars(self, parent: Mapping[str, str]) -> dict[str, str]:
        # ansible-playbook must be the one beside this interpreter (the project's venv), also
        # when the venv is not activated.
        bin_dir = str(Path(sys.executable).parent)
        path = parent.get("PATH", "")
        ours = {
            "PATH": path if bin_dir in path.split(os.pathsep) else f"{bin_dir}:{path}",
            "ANSIBLE_NOCOLOR": "1",  # the artifact stdout is read as a file
        }
        if self.vault_password_file is not None:
            ours["ANSIBLE_VAULT_PASSWORD_FILE"] = str(self.vault_password_file.resolve())
        return ours


@dataclass(frozen=True)
class RunResult:
    status: str
    rc: int | None
    hosts: list[HostSummary]
    #: Whether ansible-playbook got as far as a recap (False: it refused the playbook,
    #: inventory or vault before running anything).
    ran: bool
    errors: list[str]
    artifact_dir: Path

    @property
    def failed_hosts(self) -> list[str]:
        return [h.host for h in self.hosts if h.failed or h.unreachable]

    @property
    def succeeded(self) -> bool:
        return self.status == "successful" and self.rc == 0 and not self.failed_hosts


def new_run_dir_name(playbook: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}-{re.sub(r'[^A-Za-z0-9_.-]', '_', playbook)}"


def prune_runs(root: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` run directories under `root`; return the removed."""
    runs = sorted(p for p in root.iterdir() if p.is_dir() and RUN_DIR.match(p.name))
    removed = runs[: max(len(runs) - keep, 0)]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def run_playbook(request: ProvisionRequest, emit: Callable[[str], None]) -> RunResult:
    """Run the playbook, handing progress lines to `emit`; the result holds runner's stats."""
    import ansible_runner

    request.artifacts_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    ident = new_run_dir_name(request.playbook.stem)
    progress = Progress(emit)
    parent = dict(os.environ)
    ours = request.envvars(parent)
    # Runner's private data dir would hold env/ files and inputs: nothing of it is kept.
    with tempfile.TemporaryDirectory(prefix="netmon-provision-") as private:
        config = ansible_runner.RunnerConfig(
            private_data_dir=private,
            artifact_dir=str(request.artifacts_root.resolve()),
            ident=ident,
            project_dir=str(request.playbook.parent),
            playbook=str(request.playbook),
            inventory=str(request.inventory.resolve()),
            limit=request.limit,
            tags=request.tags,
            cmdline=request.cmdline(),
            envvars=ours,
            quiet=True,
            suppress_env_files=True,
            fact_cache_type="memory",
        )
        config.prepare()
        config.env = runner_environment(config.env, parent, ours)
        runner = ansible_runner.Runner(config, event_handler=progress)
        runner.run()
        stats = runner.stats
    prune_runs(request.artifacts_root, request.keep)
    return RunResult(
        status=str(runner.status),
        rc=runner.rc,
        hosts=summarize(stats),
        ran=stats is not None,
        errors=progress.errors,
        artifact_dir=Path(config.artifact_dir),
    )
