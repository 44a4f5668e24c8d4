"""The per-device configuration git repository (agent.backup.repo), against real git."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.backup.repo import Commit, ConfigRepo, DeviceNotFound, RepoError

ROOT = Path(__file__).resolve().parents[2]
CONFIG = "hostname r1\n!\ninterface Gi0/0\n ip address 10.0.0.1 255.255.255.0\n!\nend\n"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def commit_count(repo: Path) -> int:
    return int(git(repo, "rev-list", "--count", "HEAD"))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def repo(tmp_path: Path, clock: Clock) -> ConfigRepo:
    store = ConfigRepo(tmp_path / "state" / "config-backups", now=clock)
    store.init()
    return store


def test_init_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b"
    ConfigRepo(path).init()
    ConfigRepo(path).init()
    assert commit_count(path) == 1
    assert git(path, "branch", "--show-current").strip() == "main"
    assert "do not edit by hand" in (path / "README.md").read_text()
    assert git(path, "status", "--porcelain") == ""
    assert git(path, "log", "--format=%an <%ae>").strip() == "netmon <netmon@localhost>"


def test_first_backup_adds_the_whole_file(repo: ConfigRepo) -> None:
    commit = repo.commit_device("r1", CONFIG, message="r1: configuration changed")
    assert commit is not None
    assert len(commit.sha) == 40
    assert (commit.lines_added, commit.lines_removed) == (CONFIG.count("\n"), 0)
    assert git(repo.path, "rev-parse", "HEAD").strip() == commit.sha
    assert (repo.path / "devices" / "r1.cfg").read_text() == CONFIG
    assert repo.show("r1") == CONFIG
    assert repo.hosts() == ["r1"]


def test_unchanged_config_makes_no_commit(repo: ConfigRepo) -> None:
    repo.commit_device("r1", CONFIG, message="m")
    before = commit_count(repo.path)
    assert repo.commit_device("r1", CONFIG, message="m") is None
    assert ConfigRepo(repo.path).commit_device("r1", CONFIG, message="m") is None
    assert commit_count(repo.path) == before


def test_unchanged_config_runs_no_git(repo: ConfigRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.commit_device("r1", CONFIG, message="m")
    calls: list[object] = []
    original = repo._run

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(repo, "_run", counting)
    assert repo.commit_device("r1", CONFIG, message="m") is None
    assert calls == []


def test_one_line_change_touches_only_that_device(repo: ConfigRepo) -> None:
    repo.commit_device("r1", CONFIG, message="m")
    repo.commit_device("r2", CONFIG.replace("r1", "r2"), message="m")
    changed = CONFIG.replace("10.0.0.1", "10.0.0.9")
    commit = repo.commit_device("r1", changed, message="r1: configuration changed")
    assert commit is not None
    assert commit == Commit(commit.sha, 1, 1)
    touched = git(repo.path, "show", "--name-only", "--format=", commit.sha).split()
    assert touched == ["devices/r1.cfg"]
    assert git(repo.path, "log", "-1", "--format=%s", commit.sha).strip() == (
        "r1: configuration changed"
    )


def test_history_and_diff(repo: ConfigRepo, clock: Clock) -> None:
    first = repo.commit_device("r1", CONFIG, message="r1: first")
    clock.now += timedelta(days=1)
    second = repo.commit_device("r1", CONFIG + "! two\n", message="r1: second")
    clock.now += timedelta(days=1)
    repo.commit_device("r2", "other\n", message="r2: first")
    clock.now += timedelta(days=1)
    third = repo.commit_device("r1", CONFIG.replace("end", "! three\nend"), message="r1: third")
    assert first and second and third

    history = repo.history("r1")
    assert [h.sha for h in history] == [third.sha, second.sha, first.sha]
    assert history[0].subject == "r1: third"
    assert history[0].when == datetime(2024, 3, 4, 8, 0, tzinfo=UTC)
    assert (history[2].lines_added, history[2].lines_removed) == (CONFIG.count("\n"), 0)
    recent = repo.history("r1", since=datetime(2024, 3, 2, 12, 0, tzinfo=UTC))
    assert [h.sha for h in recent] == [third.sha]

    last = repo.diff("r1")
    assert "+! three" in last and "-! two" in last
    assert last.startswith("diff --git a/devices/r1.cfg b/devices/r1.cfg")
    since_start = repo.diff("r1", since=datetime(2024, 3, 1, 9, 0, tzinfo=UTC))
    assert "+! three" in since_start and "! two" not in since_start
    assert repo.diff("r1", since=datetime(2024, 3, 5, tzinfo=UTC)) == ""
    assert repo.diff("r2", since=datetime(2024, 3, 3, 9, 0, tzinfo=UTC)) == ""
    whole = repo.diff("r2")  # first backup: everything added
    assert "+other" in whole and "new file" in whole
    with pytest.raises(ValueError, match="timezone-aware"):
        repo.history("r1", since=datetime(2024, 3, 1))


def test_unknown_host_is_named(repo: ConfigRepo) -> None:
    for call in (repo.show, repo.diff, repo.history):
        with pytest.raises(DeviceNotFound, match="'ghost'"):
            call("ghost")
    assert issubclass(DeviceNotFound, RepoError)


@pytest.mark.parametrize(
    "host", ["", "..", "../etc/passwd", "a/b", "a b", ".hidden", "-rf", "a..b", "r1;rm", "é"]
)
def test_invalid_host_names_refused(repo: ConfigRepo, host: str) -> None:
    with pytest.raises(ValueError, match="invalid device host name"):
        repo.commit_device(host, CONFIG, message="m")
    assert commit_count(repo.path) == 1


def test_host_names_allowed(repo: ConfigRepo) -> None:
    for host in ("10.0.0.1", "core-r1.tslcd.example", "R_2"):
        assert repo.commit_device(host, CONFIG, message=host) is not None


def test_threads_committing_20_devices_all_land(repo: ConfigRepo) -> None:
    hosts = [f"r{n:02d}" for n in range(20)]
    second_handle = ConfigRepo(repo.path)  # another object on the same repository
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(
                lambda h: (repo if int(h[1:]) % 2 else second_handle).commit_device(
                    h, CONFIG.replace("r1", h), message=f"{h}: configuration changed"
                ),
                hosts,
            )
        )
    assert all(r is not None for r in results)
    assert len({r.sha for r in results if r}) == 20
    assert commit_count(repo.path) == 21
    assert repo.hosts() == hosts
    for result in results:
        assert result is not None
        assert len(git(repo.path, "show", "--name-only", "--format=", result.sha).split()) == 1
    assert git(repo.path, "status", "--porcelain") == ""
    git(repo.path, "fsck", "--no-progress")


def test_second_process_commits_concurrently(repo: ConfigRepo) -> None:
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from agent.backup.repo import ConfigRepo
        store = ConfigRepo(Path({str(repo.path)!r}))
        store.init()
        print("ready", flush=True)
        for n in range(15):
            assert store.commit_device(f"cli{{n}}", f"cli {{n}}\\n", message="cli") is not None
        """
    )
    other = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert other.stdout is not None
    assert other.stdout.readline() == b"ready\n"  # both now commit at the same time
    for n in range(15):
        assert repo.commit_device(f"agent{n}", f"agent {n}\n", message="agent") is not None
    _, stderr = other.communicate(timeout=120)
    assert other.returncode == 0, stderr.decode()
    assert commit_count(repo.path) == 31
    assert len(repo.hosts()) == 30
    per_commit = git(repo.path, "log", "--format=", "--name-only", "HEAD~30..HEAD").split()
    assert len(per_commit) == 30  # one file per commit
    git(repo.path, "fsck", "--no-progress")


def test_stale_working_tree_after_a_crash_is_repaired(repo: ConfigRepo) -> None:
    repo.commit_device("r1", CONFIG, message="m")
    changed = CONFIG + "! new\n"
    repo.commit_device("r1", changed, message="m")
    # A crash between commit and working-tree write leaves the old text on disk.
    (repo.path / "devices" / "r1.cfg").write_text(CONFIG)
    assert repo.commit_device("r1", changed, message="m") is None
    assert (repo.path / "devices" / "r1.cfg").read_text() == changed


def test_init_discards_stray_staged_changes(repo: ConfigRepo) -> None:
    (repo.path / "stray.txt").write_text("x\n")
    git(repo.path, "add", "stray.txt")
    fresh = ConfigRepo(repo.path)
    fresh.init()
    commit = fresh.commit_device("r1", CONFIG, message="m")
    assert commit is not None
    assert git(repo.path, "show", "--name-only", "--format=", commit.sha).split() == [
        "devices/r1.cfg"
    ]


def test_callers_git_environment_is_ignored(
    repo: ConfigRepo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "someone")
    store = ConfigRepo(repo.path)
    assert store.commit_device("r1", CONFIG, message="m") is not None
    monkeypatch.delenv("GIT_DIR")
    assert git(repo.path, "log", "-1", "--format=%an").strip() == "netmon"


def test_git_missing_is_a_clear_error(tmp_path: Path) -> None:
    store = ConfigRepo(tmp_path / "r", git=str(tmp_path / "no-such-git"))
    with pytest.raises(RepoError, match="git is not installed"):
        store.init()


def test_corrupted_repository_is_a_repo_error(repo: ConfigRepo) -> None:
    repo.commit_device("r1", CONFIG, message="m")
    (repo.path / ".git" / "HEAD").write_text("garbage\n")
    with pytest.raises(RepoError, match=r"git \S+ failed in .*not a git repository"):
        ConfigRepo(repo.path).commit_device("r2", CONFIG, message="m")


def test_missing_objects_is_a_repo_error(repo: ConfigRepo) -> None:
    repo.commit_device("r1", CONFIG, message="m")
    for obj in (repo.path / ".git" / "objects").glob("??/*"):
        obj.chmod(0o644)
        obj.unlink()
    with pytest.raises(RepoError, match="failed"):
        repo.show("r1")


def test_the_first_backups_of_several_workers_create_the_repository_once(tmp_path: Path) -> None:
    # No init() beforehand: as in `netmon backup` on a fresh state directory, every worker's
    # first commit finds no repository. Several rounds, since a race needs its moment.
    for round_ in range(5):
        fresh = ConfigRepo(tmp_path / f"configs-{round_}")
        with ThreadPoolExecutor(8) as pool:
            commits = list(
                pool.map(
                    lambda n, repo=fresh: repo.commit_device(
                        f"rt-{n}", f"hostname rt-{n}\n", message="m"
                    ),
                    range(8),
                )
            )
        assert all(commit is not None for commit in commits)
        assert sorted(fresh.hosts()) == [f"rt-{n}" for n in range(8)]
