"""One process per venue, account and API key index.

Lighter counts nonces per API key index: two processes signing with one key draw from one nonce sequence and
keep invalidating each other's transactions (and each one's start-up would cancel the other's orders).

Rules:
- An exclusive, non-blocking ``fcntl.flock`` on a lock file named after the venue (host and port), the
  account and the API key index, taken before anything is sent and held (its descriptor open) for the life
  of the process.
- The OS releases the lock when the process ends in any way, SIGKILL and crashes included: a lock file left
  behind is harmless, the next start locks it again. The file only records the holder's pid and market, for
  the refusal message.
- The files live in one fixed directory, ``/tmp/lighter-mm-locks`` (world-writable and sticky, like /tmp):
  never derived from the environment ($TMPDIR, $XDG_RUNTIME_DIR, the user), which differs between a
  service, a cron job and a shell and would let two processes lock two different files for one key.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from lmm.daemon.startup_checks import EXIT_ALREADY_RUNNING, EXIT_FATAL, StartupError

_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


@dataclass
class ProcessLock:
    path: Path
    fd: int

    def release(self) -> None:
        """Unlock now (the process's exit does the same); safe to call twice."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


LOCK_DIR = Path("/tmp/lighter-mm-locks")


def default_lock_dir() -> Path:
    return LOCK_DIR


def venue_name(base_url: str) -> str:
    """``host_port`` of the venue's URL, the same for every spelling of one endpoint."""
    parts = urlsplit(base_url.strip())
    host = (parts.hostname or base_url).lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    except ValueError:
        port = 0
    return re.sub(r"[^a-z0-9.-]", "_", f"{host}_{port}")


def lock_path(lock_dir: Path, base_url: str, account_index: int, api_key_index: int) -> Path:
    return lock_dir / f"{venue_name(base_url)}-account-{account_index}-key-{api_key_index}.lock"


def acquire_process_lock(base_url: str, account_index: int, api_key_index: int, market: str,
                         lock_dir: Path | None = None) -> ProcessLock:
    """Lock (venue, account, key index) for this process or raise ``StartupError`` (exit status 4)."""
    directory = lock_dir or default_lock_dir()
    path = lock_path(directory, base_url, account_index, api_key_index)
    try:
        if not directory.is_dir():
            directory.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):  # shared by every user of the machine, as /tmp is
                directory.chmod(0o1777)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        with contextlib.suppress(OSError):  # whoever starts next, under any user, must be able to lock it
            os.fchmod(fd, 0o666)
    except OSError as exc:
        raise StartupError(f"cannot create the process lock {path}: {exc.strerror}", EXIT_FATAL) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        raise StartupError(
            f"another lighter-mm process{holder} already uses account {account_index} with API key index "
            f"{api_key_index} on {venue_name(base_url)}: run one API key index per process (lock {path})",
            EXIT_ALREADY_RUNNING) from None
    with contextlib.suppress(OSError):  # the record is informative only
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {market}\n".encode(), 0)
    return ProcessLock(path, fd)


def _read_holder(fd: int) -> str:
    try:
        pid, market = os.pread(fd, 200, 0).decode(errors="replace").split()[:2]
    except (OSError, ValueError):
        return ""
    return f" (pid {pid}, {market})" if pid.isdigit() else ""
