"""A local stand-in for the Hugging Face Hub: just the endpoints huggingface_hub 2.x snapshot_download calls.

snapshot_download(repo_id) makes, in order:
  GET  /api/models/<repo_id>/revision/main        -> model info; its "sha" is the commit to download
  GET  /api/models/<repo_id>/tree/<commit>        -> file list (path, size, git oid, lfs sha256)
  HEAD /<repo_id>/resolve/<commit>/<file>         -> X-Repo-Commit, ETag (names the cached blob), Content-Length
  GET  /<repo_id>/resolve/<commit>/<file>         -> the bytes (a Range header only when resuming)
Errors carry the X-Error-Code header the client uses to tell "no such repo" from "no such file".
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urlsplit

_LFS_MIN_BYTES = 1_000_000  # the Hub stores big files in LFS: their ETag is the sha256, not the git oid
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class _File:
    path: Path
    size: int
    git_oid: str  # sha1 of "blob <size>\0<content>", as git names it
    sha256: Optional[str]  # set for LFS files

    @property
    def etag(self) -> str:
        return self.sha256 or self.git_oid


def _describe(path: Path) -> _File:
    data = path.read_bytes()
    git_oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    sha256 = hashlib.sha256(data).hexdigest() if len(data) >= _LFS_MIN_BYTES else None
    return _File(path, len(data), git_oid, sha256)


class _Repo:
    def __init__(self, repo_id: str, directory: Path):
        self.repo_id = repo_id
        self.files = {p.name: _describe(p) for p in sorted(Path(directory).iterdir()) if p.is_file()}
        oids = "".join(f"{name}:{f.git_oid}" for name, f in self.files.items())
        self.commit = hashlib.sha1(f"{repo_id}\n{oids}".encode()).hexdigest()

    def info(self) -> dict:
        return {
            "id": self.repo_id,
            "modelId": self.repo_id,
            "sha": self.commit,
            "private": False,
            "siblings": [{"rfilename": name} for name in self.files],
        }

    def tree(self) -> list:
        entries = []
        for name, f in self.files.items():
            entry = {"type": "file", "path": name, "size": f.size, "oid": f.git_oid}
            if f.sha256:
                entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
            entries.append(entry)
        return entries


_API = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/(?P<kind>revision|tree)/(?P<rev>[^/]+))?/?$")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class FakeHub:
    """Serve directories as Hub model repos on 127.0.0.1:<free port>; `fail_status` answers all requests."""

    def __init__(self, repos: dict[str, Path], *, fail_status: Optional[int] = None):
        self.repos = {repo_id: _Repo(repo_id, directory) for repo_id, directory in repos.items()}
        self.fail_status = fail_status
        self.requests: list[tuple[str, str]] = []  # (method, path) in arrival order
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeHub":
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering and close the port, so later connections are refused."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> "FakeHub":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _handler_class(self) -> type:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hub._handle(self, head=False)

            def do_HEAD(self) -> None:
                hub._handle(self, head=True)

            def log_message(self, format: str, *args) -> None:
                pass  # keep pytest output clean; `hub.requests` records what came in

        return Handler

    def _handle(self, handler: BaseHTTPRequestHandler, *, head: bool) -> None:
        path = unquote(urlsplit(handler.path).path)
        with self._lock:
            self.requests.append((handler.command, path))
        if self.fail_status is not None:
            return _send_json(handler, self.fail_status, {"error": "failing on purpose"}, head=head)

        api = _API.match(path)
        if api:
            repo = self.repos.get(api["repo"])
            if repo is None:
                return _send_error(handler, 404, "RepoNotFound", head=head)
            if api["rev"] not in (None, "main", repo.commit):
                return _send_error(handler, 404, "RevisionNotFound", head=head)
            body = repo.tree() if api["kind"] == "tree" else repo.info()
            return _send_json(handler, 200, body, head=head)

        resolve = _RESOLVE.match(path)
        if resolve:
            repo = self.repos.get(resolve["repo"])
            if repo is None:
                return _send_error(handler, 404, "RepoNotFound", head=head)
            if resolve["rev"] not in ("main", repo.commit):
                return _send_error(handler, 404, "RevisionNotFound", head=head)
            f = repo.files.get(resolve["file"])
            if f is None:
                return _send_error(handler, 404, "EntryNotFound", head=head, commit=repo.commit)
            return _send_file(handler, f, repo.commit, head=head)

        return _send_error(handler, 404, "RepoNotFound", head=head)


def _send_json(handler: BaseHTTPRequestHandler, status: int, body: object, *, head: bool) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if not head:
        handler.wfile.write(data)


def _send_error(
    handler: BaseHTTPRequestHandler, status: int, code: str, *, head: bool, commit: Optional[str] = None
) -> None:
    data = json.dumps({"error": code}).encode()
    handler.send_response(status)
    handler.send_header("X-Error-Code", code)
    if commit:
        handler.send_header("X-Repo-Commit", commit)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if not head:
        handler.wfile.write(data)


def _send_file(handler: BaseHTTPRequestHandler, f: _File, commit: str, *, head: bool) -> None:
    start, end = 0, f.size - 1
    wanted = _RANGE.match(handler.headers.get("Range", ""))
    if wanted:
        start = int(wanted[1])
        end = min(int(wanted[2]), end) if wanted[2] else end
    length = max(end - start + 1, 0)
    handler.send_response(206 if wanted else 200)
    handler.send_header("X-Repo-Commit", commit)
    handler.send_header("ETag", f'"{f.etag}"')
    if f.sha256:
        handler.send_header("X-Linked-Etag", f'"{f.sha256}"')
        handler.send_header("X-Linked-Size", str(f.size))
    handler.send_header("Accept-Ranges", "bytes")
    handler.send_header("Content-Type", "application/octet-stream")
    handler.send_header("Content-Length", str(length))
    if wanted:
        handler.send_header("Content-Range", f"bytes {start}-{end}/{f.size}")
    handler.end_headers()
    if head:
        return
    with open(f.path, "rb") as src:
        src.seek(start)
        remaining = length
        while remaining > 0:
            chunk = src.read(min(_CHUNK_BYTES, remaining))
            if not chunk:
                break
            handler.wfile.write(chunk)
            remaining -= len(chunk)
