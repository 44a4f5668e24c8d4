"""A git repository of device configurations, one file per device, one commit per change.

Layout: ``README.md`` and ``devices/<host>.cfg`` on branch ``main``. Every change to a device
is one commit touching only that device's file, so ``git log -- devices/<host>.cfg`` is the
device's history and ``git show`` of a commit is exactly one device's change.

The plain ``git`` CLI is driven with a fixed environment (no user or system configuration, a
fixed author, the C locale, no prompts), so the repository behaves the same whoever runs the
agent. Writers are serialised by a per-object ``threading.Lock`` and an ``fcntl.flock`` on
``.git/netmon.lock``, so the running agent and a ``netmon backup`` CLI can commit at once.

Crash safety: a device's new configuration is committed from git's object store first and
written to the working tree only after the commit; the working tree file therefore always
holds content that HEAD has, and an unchanged device is recognised by comparing with the
working tree file alone (no git process), which keeps a 200-device round cheap.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_HOST = re.compile(r"[A-Za-z0-9._-]+")
_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # SHA-1 repositories (we create those)
_STDERR_LIMIT = 300
_README = """\
# Device configuration backups

Written by the tslcd-netmon agent; do not edit by hand.

Each file `devices/<host>.cfg` is the running configuration of one network device as fetched
over SSH, with secrets replaced by `<removed>` and volatile lines (timestamps, byte counts)
dropped. Every commit changes exactly one device; its subject names the device.

    git log --stat -- devices/<host>.cfg      # when a device changed
    git log -p -- devices/<host>.cfg          # what changed
    netmon backup diff <host>                 # the last change, via the agent
"""


class RepoError(Exception):
    """A git command failed, git is missing, or the repository is unusable."""


class DeviceNotFound(RepoError):
    """The repository has no backup of the device asked for."""


@dataclass(frozen=True, slots=True)
class Commit:
    """A commit made by :meth:`ConfigRepo.commit_device`; counts from ``git show --numstat``."""

    sha: str
    lines_added: int
    lines_removed: int


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """One entry of a device's history; ``when`` is the committer time, UTC-aware."""

    sha: str
    when: datetime
    lines_added: int
    lines_removed: int
    subject: str


def validate_host(host: str) -> str:
    """Return ``host`` if it is safe as a file name under ``devices/``, else raise ValueError."""
    if not _HOST.fullmatch(host) or ".." in host or host.startswith((".", "-")):
        raise ValueError(f"invalid device host name for a backup file: {host!r}")
    return host


class ConfigRepo:
    """Per-device configuration files in a git repository at ``path``.

    git_timeout_s bounds every git command. now, when given, fixes the author and committer
    time of new commits (a test seam; git timestamps have one-second resolution).
    """

    def __init__(
        self,
        path: Path,
        *,
        git: str = "git",
        git_timeout_s: float = 60.0,
        lock_timeout_s: float = 120.0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.path = path
        self._git = git
        self._git_timeout_s = git_timeout_s
        self._lock_timeout_s = lock_timeout_s
        self._now = now
        self._thread_lock = threading.Lock()
        self._ready = False
        self._env = {
            # Only PATH is inherited: a GIT_DIR or GIT_INDEX_FILE from a calling hook, or the
            # operator's ~/.gitconfig (signing, hooks, pagers), must never apply here.
            "PATH": os.environ.get("PATH", os.defpath),
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "netmon",
            "GIT_AUTHOR_EMAIL": "netmon@localhost",
            "GIT_COMMITTER_NAME": "netmon",
            "GIT_COMMITTER_EMAIL": "netmon@localhost",
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        }

    # -- git plumbing ---------------------------------------------------------------------

    def _run(
        self, args: Sequence[str], *, stdin: bytes | None = None, ok_codes: tuple[int, ...] = (0,)
    ) -> subprocess.CompletedProcess[bytes]:
        env = self._env
        if self._now is not None and args and args[0] == "commit":
            stamp = f"{int(self._now().timestamp())} +0000"
            env = {**env, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
        command = [self._git, "-C", str(self.path), *args]
        try:
            done = subprocess.run(
                command,
                # Never the agent's own stdin: git must not wait on a terminal or a socket.
                input=b"" if stdin is None else stdin,
                capture_output=True,
                env=env,
                timeout=self._git_timeout_s,
                check=False,
            )
        except FileNotFoundError as exc:
            raise RepoError(f"git is not installed (no {self._git!r} on PATH)") from exc
        except subprocess.TimeoutExpired as exc:
            raise RepoError(
                f"git {args[0]} timed out after {self._git_timeout_s:g}s in {self.path}"
            ) from exc
        if done.returncode not in ok_codes:
            stderr = done.stderr.decode("utf-8", "replace").strip()
            if len(stderr) > _STDERR_LIMIT:
                stderr = stderr[:_STDERR_LIMIT] + "..."
            raise RepoError(
                f"git {args[0]} failed in {self.path} (exit {done.returncode}): {stderr}"
            )
        return done

    def _out(self, args: Sequence[str]) -> str:
        return self._run(args).stdout.decode("utf-8", "replace")

    @contextlib.contextmanager
    def _locked(self, on: Path | None = None) -> Iterator[None]:
        """Hold the thread lock and the cross-process flock (polled, so a stuck peer becomes a
        RepoError instead of a hang); `on`: the file or directory to flock (default
        ``.git/netmon.lock``; before ``.git`` exists, the repository's directory)."""
        deadline = time.monotonic() + self._lock_timeout_s
        if not self._thread_lock.acquire(timeout=self._lock_timeout_s):
            raise RepoError(f"backup repository {self.path} busy (thread lock)")
        try:
            lock_path = on or self.path / ".git" / "netmon.lock"
            try:
                if lock_path.is_dir():
                    fd = os.open(lock_path, os.O_RDONLY)
                else:
                    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise RepoError(f"cannot open {lock_path}: {exc.strerror}") from exc
            try:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise RepoError(
                                f"backup repository {self.path} busy: another process holds "
                                f"{lock_path} for over {self._lock_timeout_s:g}s"
                            ) from None
                        time.sleep(0.01)
                yield
            finally:
                os.close(fd)  # releases the flock
        finally:
            self._thread_lock.release()

    # -- setup ----------------------------------------------------------------------------

    def init(self) -> None:
        """Create the repository with a README commit if needed; safe to call every start.

        Also resets the index to HEAD, discarding anything a crashed writer staged, so each
        later commit contains only its own device.
        """
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RepoError(f"cannot create backup repository {self.path}: {exc.strerror}") from exc
        # Two workers (or the agent and `netmon backup`) may both find no repository: one
        # `git init` at a time, or they trip over each other's template files.
        with self._locked(on=self.path):
            if not (self.path / ".git").exists():
                self._run(["init", "-q", "-b", "main"])
        with self._locked():
            has_head = self._run(["rev-parse", "-q", "--verify", "HEAD"], ok_codes=(0, 1))
            if has_head.returncode != 0:
                (self.path / "README.md").write_text(_README, encoding="utf-8")
                self._run(["add", "--", "README.md"])
                self._run(["commit", "-q", "--no-verify", "-m", "Configuration backups"])
            else:
                self._run(["reset", "-q"])
        self._ready = True

    # -- writing --------------------------------------------------------------------------

    def commit_device(self, host: str, text: str, *, message: str) -> Commit | None:
        """Store ``text`` as ``devices/<host>.cfg`` and commit it if it changed.

        Returns None when HEAD already has exactly this text (no empty commits). The first
        backup of a device is a commit whose ``lines_added`` is the whole file.
        """
        relative = f"devices/{validate_host(host)}.cfg"
        data = text.encode("utf-8")
        if not self._ready:
            self.init()
        target = self.path / relative
        with self._locked():
            # The working tree only ever holds committed content (see module docstring).
            if _read_bytes(target) == data:
                return None
            head_blob = self._head_blob(relative)
            new_blob = self._run(["hash-object", "-w", "--stdin"], stdin=data).stdout.decode()
            new_blob = new_blob.strip()
            if new_blob == head_blob:
                self._write_worktree(target, data)  # a crash after the last commit
                return None
            self._run(["update-index", "--add", "--cacheinfo", f"100644,{new_blob},{relative}"])
            self._run(["commit", "-q", "--no-verify", "-m", message])
            commit = self._numstat_of("HEAD", relative)
            self._write_worktree(target, data)
            return commit

    def _head_blob(self, relative: str) -> str | None:
        listed = self._out(["ls-tree", "HEAD", "--", relative]).split()
        return listed[2] if len(listed) >= 3 else None

    def _numstat_of(self, revision: str, relative: str) -> Commit:
        lines = self._out(["show", "--numstat", "--format=%H", revision, "--", relative])
        sha, _, rest = lines.partition("\n")
        added, removed = _parse_numstat(rest)
        return Commit(sha.strip(), added, removed)

    def _write_worktree(self, target: Path, data: bytes) -> None:
        tmp_dir = self.path / ".git" / "netmon-tmp"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp_dir.mkdir(exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix=target.name + ".")
            try:
                with os.fdopen(fd, "wb") as tmp:
                    tmp.write(data)
                os.chmod(tmp_name, 0o640)
                os.replace(tmp_name, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)
                raise
        except OSError as exc:
            raise RepoError(f"cannot write {target}: {exc.strerror}") from exc

    # -- reading --------------------------------------------------------------------------

    def hosts(self) -> list[str]:
        """The devices with a stored configuration, sorted."""
        names = self._out(["ls-tree", "--name-only", "HEAD", "--", "devices/"]).splitlines()
        return sorted(n.removeprefix("devices/").removesuffix(".cfg") for n in names)

    def _existing(self, host: str) -> str:
        relative = f"devices/{validate_host(host)}.cfg"
        if self._head_blob(relative) is None:
            raise DeviceNotFound(f"no configuration backup of device {host!r} in {self.path}")
        return relative

    def show(self, host: str) -> str:
        """The stored (scrubbed) configuration of ``host`` at HEAD."""
        relative = self._existing(host)
        return self._out(["show", f"HEAD:{relative}"])

    def history(self, host: str, since: datetime | None = None) -> list[CommitInfo]:
        """The commits that changed ``host``, newest first, optionally only those after
        ``since`` (timezone-aware)."""
        relative = self._existing(host)
        args = ["log", "--format=%x1e%H%x1f%ct%x1f%s", "--numstat"]
        if since is not None:
            args.append(f"--since={_git_time(since)}")
        out = self._out([*args, "HEAD", "--", relative])
        entries: list[CommitInfo] = []
        for record in out.split("\x1e")[1:]:
            header, _, numstat = record.partition("\n")
            sha, stamp, subject = header.split("\x1f", 2)
            added, removed = _parse_numstat(numstat)
            when = datetime.fromtimestamp(int(stamp), UTC)
            entries.append(CommitInfo(sha, when, added, removed, subject))
        return entries

    def diff(self, host: str, since: datetime | None = None) -> str:
        """Unified diff of ``host``'s file from its state at ``since`` (or, when None, before
        its last change) to HEAD; ``""`` when nothing changed. A device first stored after
        ``since`` shows as wholly added."""
        relative = self._existing(host)
        if since is None:
            changes = self._out(["log", "-n", "2", "--format=%H", "HEAD", "--", relative]).split()
            base = changes[1] if len(changes) == 2 else _EMPTY_TREE
        else:
            before = self._out(["rev-list", "-n", "1", f"--before={_git_time(since)}", "HEAD"])
            base = before.strip() or _EMPTY_TREE
        return self._out(["diff", "--no-color", "--no-ext-diff", base, "HEAD", "--", relative])


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RepoError(f"cannot read {path}: {exc.strerror}") from exc


def _parse_numstat(text: str) -> tuple[int, int]:
    """Sum ``added<TAB>removed<TAB>path`` lines; a binary file ("-") counts as 0."""
    added = removed = 0
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            added += int(parts[0]) if parts[0].isdigit() else 0
            removed += int(parts[1]) if parts[1].isdigit() else 0
    return added, removed


def _git_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("since must be timezone-aware (UTC)")
    return f"@{int(moment.timestamp())}"
