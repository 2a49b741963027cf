"""A loopback HTTP corpus server and a toy DVC repo (a ← corpus1, b ← corpus2, c ← a + b)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

BIN = Path(sys.executable).parent


@dataclass
class Served:
    body: bytes
    etag: bool = True  # send an ETag (else Last-Modified + Content-Length)
    modified: float = 1_700_000_000.0
    fail_get: bool = False  # answer GET with 500 (HEAD still works)
    truncate: bool = False  # promise the full Content-Length, send half, close


@dataclass
class CorpusServer:
    """Files served from memory; `requests` counts (method, path)."""

    url: str
    files: dict[str, Served] = field(default_factory=dict)
    requests: Counter = field(default_factory=Counter)

    def put(self, path: str, body: bytes, **options) -> str:
        """Serve `body` at `path` (options: see `Served`); return its URL."""
        self.files[path] = Served(body, **options)
        return self.url + path


def _handler(server: CorpusServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _headers(self, served: Served) -> None:
            self.send_header("Content-Length", str(len(served.body)))
            if served.etag:
                self.send_header("ETag", '"' + hashlib.sha256(served.body).hexdigest()[:16] + '"')
            else:
                self.send_header("Last-Modified", formatdate(served.modified, usegmt=True))

        def _serve(self, with_body: bool) -> None:
            server.requests[(self.command, self.path)] += 1
            served = server.files.get(self.path)
            if served is None or (with_body and served.fail_get):
                self.send_error(404 if served is None else 500)
                return
            self.send_response(200)
            self._headers(served)
            self.end_headers()
            if with_body:
                self.wfile.write(served.body[: len(served.body) // 2] if served.truncate else served.body)
                if served.truncate:
                    self.close_connection = True

        def do_HEAD(self) -> None:
            self._serve(with_body=False)

        def do_GET(self) -> None:
            self._serve(with_body=True)

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def corpus_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), None)
    server = CorpusServer(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.RequestHandlerClass = _handler(server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    httpd.shutdown()
    httpd.server_close()


def _stage(name: str, deps: list[str], out: str) -> dict:
    """A stage that writes its deps' content to its out and appends its name to log.txt; fails on 'FAIL'."""
    code = (
        "import pathlib, sys; out = pathlib.Path(sys.argv[1]); out.parent.mkdir(exist_ok=True); "
        "text = ''.join(pathlib.Path(p).read_text() for p in sys.argv[2:]); "
        "sys.exit('FAIL in input') if 'FAIL' in text else out.write_text(text); "
        f"open('log.txt', 'a').write('{name}\\n')"
    )
    return {"cmd": f'python -c "{code}" {out} {" ".join(deps)}', "deps": deps, "outs": [out]}


class ToyRepo:
    """A git + DVC repo whose stages record in log.txt which of them ran."""

    def __init__(self, root: Path):
        self.root = root
        self.env = {**os.environ, "PATH": str(BIN) + os.pathsep + os.environ.get("PATH", ""), "DVC_NO_ANALYTICS": "1"}

    def run(self, *args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
        return proc

    def set_sources(self, sources: dict, **settings) -> None:
        refresh = {
            "state": "data/cache/refresh-state.json",
            "http_timeout_seconds": 5,
            "retries": 1,
            "retry_delay_seconds": [0],
            "sources": sources,
            **settings,
        }
        params = {"profile": "toy", "profiles": {"toy": {"refresh": refresh}}}
        (self.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    def ran(self) -> list[str]:
        """Stages that ran since the last call, in order."""
        log = self.root / "log.txt"
        lines = log.read_text().split() if log.exists() else []
        log.unlink(missing_ok=True)
        return lines

    @property
    def state(self) -> Path:
        return self.root / "data/cache/refresh-state.json"


def _toy(root: Path) -> ToyRepo:
    """corpus/c1.txt → a, corpus/c2.txt → b, a + b → c, in a fresh git + DVC repo, not reproduced yet."""
    repo = ToyRepo(root)
    (root / "corpus").mkdir(parents=True)
    (root / "corpus/c1.txt").write_text("one\n")
    (root / "corpus/c2.txt").write_text("two\n")
    stages = {
        "a": _stage("a", ["corpus/c1.txt"], "out/a.txt"),
        "b": _stage("b", ["corpus/c2.txt"], "out/b.txt"),
        "c": _stage("c", ["out/a.txt", "out/b.txt"], "out/c.txt"),
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    repo.set_sources({})
    repo.run("git", "init", "-q")
    repo.run(str(BIN / "dvc"), "init", "-q")
    return repo


@pytest.fixture(scope="module")
def toy_project(tmp_path_factory) -> ToyRepo:
    """The toy repo for reading its config only (shared by a module; each test sets its own sources)."""
    return _toy(tmp_path_factory.mktemp("project"))


@pytest.fixture
def toy_repo(tmp_path) -> ToyRepo:
    """The toy repo after one `dvc repro` (its log cleared), for tests that change and re-run it."""
    repo = _toy(tmp_path / "repo")
    repo.run(str(BIN / "dvc"), "repro")
    assert repo.ran() == ["a", "b", "c"]
    return repo
