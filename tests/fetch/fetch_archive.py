"""The loopback ZTF archive of the `ateda fetch` tests: a real nginx (scripts/nginx.sh)
serving per-test archive directories of nightly tarballs made from the bundled real
packets, with `MD5SUMS`; its access log (one tab-separated line per request) says what
was asked for and how many body bytes were sent."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ateda_testlib import REPO, ateda_bin

NGINX_SH = REPO / "scripts" / "nginx.sh"
# The bytes/s of a file while `F.slow` exists next to it (scripts/nginx.sh): slow enough
# to cut a 1.2 MB download mid-body, fast enough to keep the tests short.
SLOW_RATE = "512k"
# How long a slow download runs before the connection is cut (~150 KB sent by then).
CUT_AFTER = 0.3
# Straight to the loopback server, whatever proxy the environment names.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def tarball_name(night: str) -> str:
    return f"ztf_public_{night}.tar.gz"


def md5_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def make_tarball(packets: list[Path]) -> bytes:
    """A nightly tarball as the archive publishes it: `<candid>.avro` members, gzipped
    (no packets: a valid empty tar.gz of a few dozen bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for p in packets:
            data = p.read_bytes()
            info = tarfile.TarInfo(p.name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def wait_until(what: str, check: Callable[[], object], timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


@dataclass(frozen=True)
class Request:
    """One access-log line: `$request $status $body_bytes_sent $http_range
    $http_if_range $sent_http_etag $msec`."""

    method: str
    uri: str
    status: int
    body_bytes: int
    range: str
    if_range: str
    etag: str

    @classmethod
    def parse(cls, line: str) -> Request:
        request, status, sent, rng, if_range, etag, _msec = line.rstrip("\n").split("\t")
        method, uri, _proto = request.split(" ")
        return cls(method, uri, int(status), int(sent), rng, if_range, etag)


@dataclass
class Nginx:
    """The session's nginx: serves `root` at `url`; its files are in `state`."""

    url: str
    root: Path
    state: Path

    def requests(self) -> list[Request]:
        text = (self.state / "access.log").read_text()
        return [Request.parse(line) for line in text.splitlines() if line]

    def sync(self) -> None:
        """Returns once every request answered before now is in the access log: one
        worker logs a request when it answers it, so a marker request asked after them
        is logged after them."""
        marker = f"/sync-{uuid.uuid4().hex}"
        try:
            OPENER.open(self.url + marker, timeout=10)
        except urllib.error.HTTPError as e:
            assert e.code == 404, e
        wait_until(marker, lambda: any(r.uri == marker for r in self.requests()))

    def master_pid(self) -> int:
        return int((self.state / "nginx.pid").read_text())

    def workers(self) -> list[int]:
        master = self.master_pid()
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                pids.append(int(stat.parent.name))
        return pids

    def cut_connections(self) -> None:
        """Drops every open connection mid-body: SIGKILL to this server's worker (the
        client sees its download end short); the master starts a new worker."""
        old = self.workers()
        assert old, "no nginx worker"
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        wait_until(
            "nginx's new worker",
            lambda: (w := self.workers()) and not set(w) & set(old),
        )


@dataclass
class FetchRun:
    code: int
    output: str  # stdout + stderr

    def line_of(self, night: str) -> str:
        lines = [ln for ln in self.output.splitlines() if tarball_name(night) in ln or night in ln]
        assert lines, f"no output line about {night}:\n{self.output}"
        return "\n".join(lines)


def fetch_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("ATEDA_ARCHIVE", None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def fetch_cmd(url: str, to: Path, *args: str) -> list[str]:
    return [str(ateda_bin()), "fetch", *args, "--archive", url, "--to", str(to), "--no-progress"]


def run_fetch(url: str, to: Path, *args: str, timeout: float = 120) -> FetchRun:
    proc = subprocess.run(
        fetch_cmd(url, to, *args),
        env=fetch_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return FetchRun(proc.returncode, proc.stdout + proc.stderr)


@dataclass
class Archive:
    """One test's archive: a directory under the server's root, at `url` (and at
    `norange_url`, where the server ignores Range)."""

    nginx: Nginx
    dir: Path
    listed: dict[str, str] = field(default_factory=dict)  # tarball name -> MD5 in MD5SUMS

    @property
    def prefix(self) -> str:
        return f"/{self.dir.name}/"

    @property
    def url(self) -> str:
        return f"{self.nginx.url}{self.prefix}"

    @property
    def norange_url(self) -> str:
        return f"{self.nginx.url}/norange{self.prefix}"

    def path(self, night: str) -> Path:
        return self.dir / tarball_name(night)

    def put(self, night: str, packets: list[Path], *, md5: str | None = None) -> bytes:
        """Publishes the night's tarball (its mtime one minute later than any earlier
        version, so its ETag changes) and lists it in MD5SUMS with its MD5 (or `md5`)."""
        data = make_tarball(packets)
        path = self.path(night)
        old = path.stat().st_mtime if path.exists() else time.time()
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.utime(tmp, (old + 60, old + 60))
        tmp.rename(path)
        self.listed[path.name] = md5 or md5_of(data)
        self.write_md5sums()
        return data

    def list_only(self, night: str, md5: str) -> None:
        """Lists a night in MD5SUMS without publishing its tarball."""
        self.listed[tarball_name(night)] = md5
        self.write_md5sums()

    def write_md5sums(self) -> None:
        text = "".join(f"{md5}  {name}\n" for name, md5 in sorted(self.listed.items()))
        tmp = self.dir / "MD5SUMS.tmp"
        tmp.write_text(text)
        tmp.rename(self.dir / "MD5SUMS")

    def etag(self, night: str) -> str:
        """The ETag nginx gives the night's tarball: hex mtime and size."""
        st = self.path(night).stat()
        return f'"{int(st.st_mtime):x}-{st.st_size:x}"'

    def slow(self, night: str, on: bool = True) -> None:
        flag = self.dir / (tarball_name(night) + ".slow")
        if on:
            flag.touch()
        else:
            flag.unlink(missing_ok=True)

    def requests(self, night: str) -> list[Request]:
        """What the server answered for the night's tarball, oldest first (at either
        location)."""
        self.nginx.sync()
        name = tarball_name(night)
        return [
            r
            for r in self.nginx.requests()
            if r.uri in (self.prefix + name, "/norange" + self.prefix + name)
        ]

    def gets(self, night: str) -> list[Request]:
        return [r for r in self.requests(night) if r.method == "GET"]


def cut_mid_body(
    archive: Archive,
    night: str,
    url: str,
    to: Path,
    *,
    then_kill: bool,
    extra: tuple[str, ...] = (),
) -> tuple[subprocess.Popen, int]:
    """Starts `ateda fetch NIGHT` with the night's tarball sent slowly, drops the
    connection once the body flows, and waits until the client has put what it received
    in `.part`. `then_kill`: the client is killed there (the next run resumes); else it
    goes on at full speed. `extra`: more arguments (e.g. `--ingest`). Returns the process
    and the `.part` length at that point."""
    size = archive.path(night).stat().st_size
    part = to / (tarball_name(night) + ".part")
    archive.slow(night)
    proc = subprocess.Popen(
        fetch_cmd(url, to, night, *extra),
        env=fetch_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # the body flows (the partial file is created when the answer starts) for a while
        wait_until("the download to start", lambda: proc.poll() is not None or part.exists())
        time.sleep(CUT_AFTER)
        assert proc.poll() is None, "ateda fetch ended before the cut:\n" + proc.communicate()[0]
        archive.nginx.cut_connections()
        # what was received is written out when the body fails
        kept = wait_until(
            "the partial file to hold the bytes received",
            lambda: part.exists() and part.stat().st_size,
        )
        if then_kill:
            proc.kill()
            proc.wait(timeout=10)
            kept = part.stat().st_size
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        archive.slow(night, on=False)
    assert 0 < kept < size, (kept, size)
    return proc, kept
