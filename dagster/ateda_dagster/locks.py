"""One writer of `<lakehouse>/ateda.duckdb` at a time, across processes."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .settings import Settings


@contextmanager
def duckdb_lock(
    settings: Settings, exclusive: bool = True, timeout_s: float = 6 * 3600
) -> Iterator[None]:
    """Serialize writers of `<lakehouse>/ateda.duckdb` across processes.

    DuckDB allows one writing process per file: two nights built at the same time (two
    sensor runs) would fail on its lock. Writers hold an exclusive flock on
    `<lakehouse>/.ateda-duckdb.lock`, readers (the report) a shared one.
    """
    settings.lakehouse.mkdir(parents=True, exist_ok=True)
    path = settings.lakehouse / ".ateda-duckdb.lock"
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    deadline = time.monotonic() + timeout_s
    with open(path, "a+") as fh:
        while True:
            try:
                fcntl.flock(fh, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{path} stayed locked for {timeout_s} s") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
