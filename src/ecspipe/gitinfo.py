"""What `ecspipe init` learns from the local git checkout: provider, owner/repo, branch, Dockerfile.

Pure except for reading the checkout: `git` runs with an argument list (never a
shell), a timeout, no terminal prompts and stdin closed, and only local
commands (`rev-parse`, `remote`, `symbolic-ref`): nothing here touches the
network. "git is not installed", "not a repository", "no remote" are answers,
not failures: `discover()` reports them in `GitInfo.problem` / `remote_problem`
and the caller decides (ask, a flag, or exit 2).

Remote URLs come in two syntaxes (git-clone(1), "GIT URLS"): URLs with a scheme
(`ssh://[user@]host[:port]/path`, `git+ssh://`, `https://[user@]host/path`,
`git://`) and the scp-like `[user@]host:path`, which git recognises only when
no slash comes before the first colon. The host decides the provider;
`source.repository` is `owner/repo`, so a GitLab subgroup project
(`group/sub/repo`) is refused with that reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import urllib.parse
from dataclasses import dataclass

GIT_TIMEOUT = 10.0  # seconds per git command; local commands take milliseconds

# Hosts of the hosted providers (and their documented SSH-over-443 hosts).
KNOWN_HOSTS = {
    "github.com": "GitHub",
    "ssh.github.com": "GitHub",
    "gitlab.com": "GitLab",
    "altssh.gitlab.com": "GitLab",
    "bitbucket.org": "Bitbucket",
    "altssh.bitbucket.org": "Bitbucket",
}
GUESSED_PROVIDER = "GitHubEnterpriseServer"
_SCHEMES = {"ssh", "git+ssh", "ssh+git", "https", "http", "git"}
_HOST_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")
# scp-like syntax: no slash before the colon (else git reads it as a local path).
_SCP_RE = re.compile(r"(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+):(?P<path>.*)", re.DOTALL)
# Directories never searched for a Dockerfile (besides hidden ones).
SKIP_DIRS = {"node_modules", "vendor", "venv", "__pycache__"}
DOCKERFILE = "Dockerfile"
SEARCH_DEPTH = 3
SEARCH_LIMIT = 20_000  # directory entries looked at, at most: a huge tree never hangs init


class RemoteError(ValueError):
    """A remote URL ecspipe cannot turn into a provider and owner/repo; str() says why."""


@dataclass(frozen=True)
class Remote:
    """A parsed remote URL."""

    host: str  # lowercase, without port or user
    path: str  # owner/repo, case kept, without .git
    provider: str  # a source.provider value
    guessed: bool = False  # the provider is a guess from an unknown host

    @property
    def owner(self) -> str:
        return self.path.split("/", 1)[0]


def display_url(url: str) -> str:
    """The URL safe to print: no password, and no user at all for http(s)
    (a token often stands there), no control characters."""
    text = url.strip()
    m = re.match(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<auth>[^@/]*@)?", text)
    if m and m["auth"]:
        auth = m["auth"][:-1]
        keep = "" if m["scheme"].lower() in ("http", "https") else auth.split(":", 1)[0] + "@"
        text = f"{m['scheme']}://{keep}{text[m.end():]}"
    return "".join(c if c.isprintable() else "?" for c in text)


def parse_remote_url(url: str) -> Remote:
    """`git@github.com:acme/app.git`, `https://host/acme/app`, ... -> Remote; RemoteError why not."""
    text = url.strip()
    shown = display_url(text)
    if not text:
        raise RemoteError("the remote has an empty URL")
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", text)
    if scheme:
        name = scheme[1].lower()
        if name == "file":
            raise RemoteError(f"{shown} is a local path, not a hosting provider")
        if name not in _SCHEMES:
            raise RemoteError(f"{shown}: ecspipe does not know the {name}:// scheme "
                              "(it reads ssh://, https:// and git@host:owner/repo)")
        try:
            parts = urllib.parse.urlsplit(text)
            host, _port = parts.hostname or "", parts.port  # .port raises on a bad port
        except ValueError as exc:
            raise RemoteError(f"{shown} is not a valid URL ({exc})") from None
        path = urllib.parse.unquote(parts.path)
    else:
        m = _SCP_RE.fullmatch(text)
        if text.startswith(("/", ".", "~")) or re.match(r"[A-Za-z]:[\\/]", text) or not m:
            raise RemoteError(f"{shown} is a local path, not a hosting provider")
        host, path = m["host"].lower(), m["path"]
    host = host.rstrip(".").removeprefix("www.")
    if not _HOST_RE.fullmatch(host):
        raise RemoteError(f"{shown}: {host!r} is not a host name")
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[: -len(".git")].rstrip("/")
    segments = path.split("/") if path else []
    provider = KNOWN_HOSTS.get(host)
    if len(segments) > 2 and provider == "GitLab":
        raise RemoteError(
            f"{shown} is a project in a GitLab subgroup ({path}); source.repository is "
            "owner/repo, so subgroup projects are not supported yet")
    if len(segments) != 2 or not all(segments):
        raise RemoteError(f"{shown}: the path {path or '(none)'!r} is not owner/repo")
    return Remote(host=host, path="/".join(segments), provider=provider or GUESSED_PROVIDER,
                  guessed=provider is None)


# --- reading the checkout -------------------------------------------------------------


class NoGit(Exception):
    """git cannot be run at all."""


def _git(repo_dir: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(["git", "-C", repo_dir, *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT, env=env, stdin=subprocess.DEVNULL)
    except (FileNotFoundError, PermissionError) as exc:
        raise NoGit(f"git is not installed ({exc.strerror or exc})") from None
    except subprocess.TimeoutExpired:
        raise NoGit(f"`git {' '.join(args)}` did not answer within {GIT_TIMEOUT:.0f}s") from None
    return done.returncode, done.stdout.strip(), done.stderr.strip()


@dataclass(frozen=True)
class GitInfo:
    """The checkout as init needs it; `problem` says why git told us nothing."""

    root: str  # the repository's top directory (the given one without git)
    problem: str | None = None  # "git is not installed", "not a git repository", ...
    remote_name: str | None = None
    remote_url: str | None = None  # as git reports it: may hold credentials, never print it
    remote: Remote | None = None
    remote_problem: str | None = None  # why `remote` is None
    branch: str | None = None
    branch_origin: str | None = None  # where `branch` came from, in words


def discover(repo_dir: str = ".") -> GitInfo:
    """Read the checkout at repo_dir (or a directory inside it)."""
    path = os.path.abspath(repo_dir)
    if not os.path.isdir(path):
        return GitInfo(root=path, problem=f"{repo_dir} is not a directory")
    try:
        code, root, err = _git(path, "rev-parse", "--show-toplevel")
        if code != 0:
            first = err.splitlines()[0] if err else f"git rev-parse exited {code}"
            reason = ("not a git repository" if "not a git repository" in err
                      else first.removeprefix("fatal: "))
            return GitInfo(root=path, problem=f"{repo_dir}: {reason}")
        return _read_repo(os.path.abspath(root or path))
    except NoGit as exc:
        return GitInfo(root=path, problem=str(exc))


def _read_repo(root: str) -> GitInfo:
    remote_name, url, remote_problem = _remote(root)
    remote = None
    if url is not None:
        try:
            remote = parse_remote_url(url)
        except RemoteError as exc:
            remote_problem = f"remote {remote_name!r}: {exc}"
    branch, branch_origin = _branch(root, remote_name)
    return GitInfo(root=root, remote_name=remote_name, remote_url=url, remote=remote,
                   remote_problem=remote_problem, branch=branch, branch_origin=branch_origin)


def _remote(root: str) -> tuple[str | None, str | None, str | None]:
    # `remote get-url` applies url.<base>.insteadOf rewrites, as git fetch does.
    code, url, _ = _git(root, "remote", "get-url", "origin")
    if code == 0 and url:
        return "origin", url, None
    code, names, _ = _git(root, "remote")
    remotes = names.split() if code == 0 else []
    if len(remotes) == 1:
        code, url, _ = _git(root, "remote", "get-url", remotes[0])
        if code == 0 and url:
            return remotes[0], url, None
    if remotes:
        return None, None, (f"no remote named origin (remotes: {', '.join(remotes)}); "
                            "`git remote rename NAME origin` picks one")
    return None, None, "the repository has no remote"


def _branch(root: str, remote_name: str | None) -> tuple[str | None, str | None]:
    if remote_name:
        # Set by `git clone` (or `git remote set-head origin --auto`): the remote's default.
        code, ref, _ = _git(root, "symbolic-ref", "--quiet", f"refs/remotes/{remote_name}/HEAD")
        prefix = f"refs/remotes/{remote_name}/"
        if code == 0 and ref.startswith(prefix) and len(ref) > len(prefix):
            return ref[len(prefix):], f"{remote_name}'s default branch"
    code, ref, _ = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD")
    if code == 0 and ref:
        why = "the current branch"
        if remote_name:
            why += f" ({remote_name}'s default branch is not recorded)"
        return ref, why
    return None, None


def find_dockerfiles(root: str, depth: int = SEARCH_DEPTH) -> list[str]:
    """Directories (relative, '/'-separated, '.' for the root) that hold a Dockerfile.

    The root's own Dockerfile ends the search. Otherwise directories up to `depth`
    levels down are searched, breadth first and sorted, skipping hidden ones and
    SKIP_DIRS, and looking at SEARCH_LIMIT entries at most.
    """
    if os.path.isfile(os.path.join(root, DOCKERFILE)):
        return ["."]
    found: list[str] = []
    level = [""]
    seen = 0
    for _ in range(depth):
        below: list[str] = []
        for rel in level:
            try:
                entries = sorted(os.scandir(os.path.join(root, rel)), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                seen += 1
                if seen > SEARCH_LIMIT:
                    return found
                if entry.name.startswith(".") or entry.name in SKIP_DIRS:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    sub = f"{rel}/{entry.name}" if rel else entry.name
                    if os.path.isfile(os.path.join(entry.path, DOCKERFILE)):
                        found.append(sub)
                    below.append(sub)
        level = below
    return found
