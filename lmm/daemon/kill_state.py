"""The kill switch's state file: a trip survives the process, and a restart refuses to quote until reset.

Rules:
- One file, ``kill_switch.json``, in the log directory (``--log-dir``): every run that logs there shares it.
- Written atomically (a temporary file in the same directory, flushed and fsync'ed, then renamed over the
  target, then the directory fsync'ed): a crash leaves the old state or the new one, never half a file.
- A file that exists but cannot be read or parsed still counts as tripped: when in doubt, do not quote.
- ``--reset-kill-switch`` removes it (``clear``); nothing else does.
"""
from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lmm.core.kill_switch import Trip

EXIT_KILL_SWITCH = 3  # a trip, and a start refused because of one (README, "Exit status")
STATE_FILE_NAME = "kill_switch.json"
RESET_COMMAND = "python market_maker_v2.py --reset-kill-switch"


@dataclass(frozen=True)
class KillRecord:
    line: str  # "KILL SWITCH: <which> <value> > <limit>", or what made the file unreadable
    symbol: str
    tripped_at: str  # UTC, ISO 8601


def state_path(log_dir: str | Path) -> Path:
    return Path(log_dir) / STATE_FILE_NAME


def write_trip(path: Path, trip: Trip, symbol: str) -> None:
    """Record ``trip`` at ``path`` atomically."""
    record = {
        "line": trip.line, "which": trip.which, "value": trip.value, "limit": trip.limit, "symbol": symbol,
        "tripped_at": datetime.fromtimestamp(trip.wall_ns / 1e9, tz=UTC).isoformat(timespec="seconds"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as sink:
            json.dump(record, sink, indent=2)
            sink.write("\n")
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)


def read_trip(path: Path) -> KillRecord | None:
    """The recorded trip, or None when there is no state file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        return KillRecord(f"state file unreadable ({type(exc).__name__})", "?", "?")
    try:
        data = json.loads(text)
        return KillRecord(str(data["line"]), str(data.get("symbol", "?")), str(data.get("tripped_at", "?")))
    except (ValueError, KeyError, TypeError):
        return KillRecord("state file unreadable (not a kill-switch record)", "?", "?")


def clear(path: Path) -> KillRecord | None:
    """Remove the state file; returns what it recorded (None when there was none)."""
    record = read_trip(path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        _fsync_dir(path.parent)
    return record


def refusal(path: Path, record: KillRecord) -> str:
    """The one line a start prints when the kill switch is tripped."""
    return (f"kill switch tripped ({record.line}, {record.symbol}, {record.tripped_at}; {path}): not quoting; "
            f"run `{RESET_COMMAND}` (with the same --log-dir) to clear it")


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be opened
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
