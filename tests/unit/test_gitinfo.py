"""gitinfo: remote URLs to provider and owner/repo, the branch, the Dockerfile (no AWS)."""

from __future__ import annotations

import os
import subprocess

import pytest

from ecspipe import gitinfo
from ecspipe.gitinfo import RemoteError, display_url, parse_remote_url

PARSED = [
    # scp-like SSH
    ("git@github.com:acme/demo-app.git", "github.com", "acme/demo-app", "GitHub"),
    ("git@github.com:acme/demo-app", "github.com", "acme/demo-app", "GitHub"),
    ("git@github.com:/acme/demo-app.git/", "github.com", "acme/demo-app", "GitHub"),
    ("github.com:acme/demo-app.git", "github.com", "acme/demo-app", "GitHub"),
    ("  git@GitHub.COM:Acme/Demo.App.git\n", "github.com", "Acme/Demo.App", "GitHub"),
    # HTTPS, with and without user, .git and trailing slashes
    ("https://github.com/acme/demo-app.git", "github.com", "acme/demo-app", "GitHub"),
    ("https://github.com/acme/demo-app", "github.com", "acme/demo-app", "GitHub"),
    ("https://github.com/acme/demo-app/", "github.com", "acme/demo-app", "GitHub"),
    ("https://github.com/acme/demo-app.git/", "github.com", "acme/demo-app", "GitHub"),
    ("https://user@github.com/acme/demo-app.git", "github.com", "acme/demo-app", "GitHub"),
    ("https://x-access-token:ghp_secret@github.com/acme/app", "github.com", "acme/app", "GitHub"),
    ("HTTPS://WWW.GITHUB.COM/acme/app", "github.com", "acme/app", "GitHub"),
    ("http://github.com/acme/app.git", "github.com", "acme/app", "GitHub"),
    # ssh:// with ports, git+ssh://, git://
    ("ssh://git@github.com/acme/demo-app.git", "github.com", "acme/demo-app", "GitHub"),
    ("ssh://git@ssh.github.com:443/acme/demo-app.git", "ssh.github.com", "acme/demo-app",
     "GitHub"),
    ("ssh://git@gitlab.com:22/group/project.git", "gitlab.com", "group/project", "GitLab"),
    ("git+ssh://git@github.com/acme/demo-app.git", "github.com", "acme/demo-app", "GitHub"),
    ("ssh+git://git@github.com/acme/demo-app", "github.com", "acme/demo-app", "GitHub"),
    ("git://github.com/acme/demo-app.git", "github.com", "acme/demo-app", "GitHub"),
    # GitLab and Bitbucket
    ("git@gitlab.com:group/project.git", "gitlab.com", "group/project", "GitLab"),
    ("https://gitlab.com/group/project", "gitlab.com", "group/project", "GitLab"),
    ("git@bitbucket.org:team/repo.git", "bitbucket.org", "team/repo", "Bitbucket"),
    ("https://jane@bitbucket.org/team/repo.git", "bitbucket.org", "team/repo", "Bitbucket"),
    ("ssh://git@altssh.bitbucket.org:443/team/repo.git", "altssh.bitbucket.org", "team/repo",
     "Bitbucket"),
    # GitHub Enterprise Server: any other host, a guess
    ("git@github.acme.internal:platform/api.git", "github.acme.internal", "platform/api",
     "GitHubEnterpriseServer"),
    ("https://ghe.example.com/platform/api.git", "ghe.example.com", "platform/api",
     "GitHubEnterpriseServer"),
    ("ssh://git@ghe.example.com:2222/platform/api.git", "ghe.example.com", "platform/api",
     "GitHubEnterpriseServer"),
    ("https://10.0.0.7/platform/api.git", "10.0.0.7", "platform/api", "GitHubEnterpriseServer"),
]


@pytest.mark.parametrize("url,host,path,provider", PARSED, ids=[p[0].strip() for p in PARSED])
def test_remote_urls_give_the_host_owner_repo_and_provider(url, host, path, provider):
    remote = parse_remote_url(url)

    assert (remote.host, remote.path, remote.provider) == (host, path, provider)
    assert remote.guessed is (provider == "GitHubEnterpriseServer")


REFUSED = [
    ("git@gitlab.com:group/sub/project.git", "GitLab subgroup"),
    ("https://gitlab.com/group/sub/deeper/project", "GitLab subgroup"),
    ("ssh://git@gitlab.com:22/group/sub/project.git", "GitLab subgroup"),
    ("https://github.com/acme", "is not owner/repo"),
    ("https://github.com/acme/app/extra", "is not owner/repo"),
    ("https://github.com/", "is not owner/repo"),
    ("git@github.com:acme//app.git", "is not owner/repo"),
    ("/srv/git/app.git", "local path"),
    ("../app.git", "local path"),
    ("~/src/app.git", "local path"),
    ("file:///srv/git/app.git", "local path"),
    ("C:\\src\\app.git", "local path"),
    ("svn://host/acme/app", "does not know the svn:// scheme"),
    ("https://github.com:notaport/acme/app", "not a valid URL"),
    ("https://bad_host!/acme/app", "is not a host name"),
    ("", "empty URL"),
]


@pytest.mark.parametrize("url,reason", REFUSED, ids=[r[0] or "empty" for r in REFUSED])
def test_unusable_remote_urls_are_refused_with_the_reason(url, reason):
    with pytest.raises(RemoteError) as excinfo:
        parse_remote_url(url)

    assert reason in str(excinfo.value)


def test_a_gitlab_subgroup_is_refused_because_source_repository_is_owner_repo():
    with pytest.raises(RemoteError) as excinfo:
        parse_remote_url("git@gitlab.com:platform/backend/api.git")

    message = str(excinfo.value)
    assert "platform/backend/api" in message
    assert "source.repository is owner/repo" in message
    assert "not supported yet" in message


def test_credentials_in_a_url_never_appear_in_an_error_or_a_display():
    url = "https://x-access-token:ghp_s3cret@github.com/acme"
    with pytest.raises(RemoteError) as excinfo:
        parse_remote_url(url)

    assert "ghp_s3cret" not in str(excinfo.value)
    assert "x-access-token" not in str(excinfo.value)
    assert display_url(url) == "https://github.com/acme"
    assert display_url("ssh://git:pw@host/a/b") == "ssh://git@host/a/b"
    assert display_url("git@github.com:a/b\nx") == "git@github.com:a/b?x"


# --- a real checkout ---------------------------------------------------------------------


def _git(repo, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True, env=env, timeout=30)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "app"
    path.mkdir()
    _git(path, "init", "-q", "-b", "develop")
    return path


def test_discover_reads_origin_and_the_current_branch(repo):
    _git(repo, "remote", "add", "origin", "git@github.com:acme/demo-app.git")

    info = gitinfo.discover(str(repo / "."))

    assert info.problem is None and info.remote_problem is None
    assert info.root == str(repo)
    assert (info.remote_name, info.remote.path, info.remote.provider) == (
        "origin", "acme/demo-app", "GitHub")
    assert info.branch == "develop"
    assert info.branch_origin.startswith("the current branch")


def test_the_remotes_default_branch_wins_over_the_current_one(repo):
    _git(repo, "remote", "add", "origin", "https://github.com/acme/demo-app.git")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty",
         "-m", "first")
    _git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    _git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")

    info = gitinfo.discover(str(repo))

    assert (info.branch, info.branch_origin) == ("main", "origin's default branch")


def test_a_subdirectory_finds_the_repository_root(repo):
    (repo / "src" / "deep").mkdir(parents=True)
    _git(repo, "remote", "add", "origin", "git@bitbucket.org:team/repo.git")

    info = gitinfo.discover(str(repo / "src" / "deep"))

    assert info.root == str(repo)
    assert info.remote.provider == "Bitbucket"


def test_one_remote_not_named_origin_is_used(repo):
    _git(repo, "remote", "add", "upstream", "git@gitlab.com:group/project.git")

    info = gitinfo.discover(str(repo))

    assert (info.remote_name, info.remote.path) == ("upstream", "group/project")


def test_several_remotes_without_origin_is_a_problem_naming_them(repo):
    _git(repo, "remote", "add", "a", "git@github.com:acme/a.git")
    _git(repo, "remote", "add", "b", "git@github.com:acme/b.git")

    info = gitinfo.discover(str(repo))

    assert info.remote is None
    assert "no remote named origin (remotes: a, b)" in info.remote_problem


def test_no_remote_and_a_bad_remote_are_problems_not_failures(repo):
    assert gitinfo.discover(str(repo)).remote_problem == "the repository has no remote"

    _git(repo, "remote", "add", "origin", "git@gitlab.com:g/sub/p.git")
    info = gitinfo.discover(str(repo))
    assert info.remote is None
    assert info.remote_problem.startswith("remote 'origin': ")
    assert "subgroup" in info.remote_problem


def test_a_detached_head_without_a_recorded_default_gives_no_branch(repo):
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty",
         "-m", "first")
    _git(repo, "checkout", "-q", "--detach")

    assert gitinfo.discover(str(repo)).branch is None


def test_not_a_repository_is_a_problem(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))

    info = gitinfo.discover(str(tmp_path))

    assert info.problem == f"{tmp_path}: not a git repository"
    assert info.root == str(tmp_path)


def test_git_not_installed_is_a_problem(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on it

    info = gitinfo.discover(str(tmp_path))

    assert info.problem.startswith("git is not installed")


def test_a_missing_directory_is_a_problem(tmp_path):
    assert "is not a directory" in gitinfo.discover(str(tmp_path / "nope")).problem


def test_git_runs_without_a_shell_and_with_a_timeout(monkeypatch, tmp_path):
    seen = {}

    def fake_run(args, **kwargs):
        seen.update(args=args, **kwargs)
        raise subprocess.TimeoutExpired(args, kwargs["timeout"])

    monkeypatch.setattr(subprocess, "run", fake_run)
    info = gitinfo.discover(str(tmp_path))

    assert isinstance(seen["args"], list) and seen["args"][0] == "git"
    assert "shell" not in seen and seen["timeout"] == gitinfo.GIT_TIMEOUT
    assert seen["env"]["GIT_TERMINAL_PROMPT"] == "0"
    assert seen["stdin"] is subprocess.DEVNULL
    assert "did not answer" in info.problem


# --- the Dockerfile ---------------------------------------------------------------------


def _touch(root, *paths: str) -> None:
    for rel in paths:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("FROM scratch\n")


def test_a_dockerfile_at_the_root_ends_the_search(tmp_path):
    _touch(tmp_path, "Dockerfile", "services/api/Dockerfile")

    assert gitinfo.find_dockerfiles(str(tmp_path)) == ["."]


def test_dockerfiles_in_subdirectories_up_to_three_levels(tmp_path):
    _touch(tmp_path, "app/Dockerfile", "a/b/c/Dockerfile", "a/b/c/d/Dockerfile")

    assert gitinfo.find_dockerfiles(str(tmp_path)) == ["app", "a/b/c"]


def test_hidden_vendor_and_node_modules_directories_are_skipped(tmp_path):
    _touch(tmp_path, ".git/Dockerfile", ".devcontainer/Dockerfile",
           "node_modules/x/Dockerfile", "vendor/y/Dockerfile", "web/Dockerfile")

    assert gitinfo.find_dockerfiles(str(tmp_path)) == ["web"]


def test_no_dockerfile_is_an_empty_list_and_the_search_is_bounded(tmp_path, monkeypatch):
    for i in range(30):
        (tmp_path / f"d{i:02d}").mkdir()
    _touch(tmp_path, "zz/Dockerfile")
    monkeypatch.setattr(gitinfo, "SEARCH_LIMIT", 10)

    assert gitinfo.find_dockerfiles(str(tmp_path)) == []
    assert gitinfo.find_dockerfiles(str(tmp_path / "d00")) == []
