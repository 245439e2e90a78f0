"""The process lock (one process per venue, account and API key index), taken by separate processes as
the bot takes it: the second taker of the same key is refused with exit status 4 and one line; other key
indexes, accounts and venues are independent; kill -9 of the holder frees the lock at once."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from e2e_support import wait_for

from lmm.daemon.process_lock import acquire_process_lock, lock_path, venue_name

ROOT = Path(__file__).resolve().parents[2]
VENUE = "http://127.0.0.1:8101"
ALREADY_RUNNING = 4

# Takes the lock like market_maker_v2.py does; "hold" keeps it until killed, "try" exits at once.
TAKER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from lmm.daemon.process_lock import acquire_process_lock
from lmm.daemon.startup_checks import StartupError
venue, account, key, market, lock_dir, mode = sys.argv[1:]
try:
    lock = acquire_process_lock(venue, int(account), int(key), market, lock_dir=Path(lock_dir))
except StartupError as error:
    print(error, file=sys.stderr)
    sys.exit(error.status)
print("locked", flush=True)
if mode == "hold":
    time.sleep(600)
"""


def _take(lock_dir: Path, mode: str, account: int = 7, key: int = 25, venue: str = VENUE,
          market: str = "BTC", out: Path | None = None) -> subprocess.Popen[str]:
    script = TAKER.format(root=str(ROOT))
    sink = out.open("w") if out is not None else subprocess.PIPE
    return subprocess.Popen([sys.executable, "-c", script, venue, str(account), str(key), market, str(lock_dir),
                             mode], stdout=sink, stderr=subprocess.PIPE, text=True)


def _try(lock_dir: Path, **kwargs: object) -> tuple[int, str]:
    process = _take(lock_dir, "try", **kwargs)  # type: ignore[arg-type]
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


def test_second_taker_refused_others_independent_and_kill_frees_it(tmp_path: Path) -> None:
    out = tmp_path / "holder.out"
    holder = _take(tmp_path, "hold", out=out)
    try:
        wait_for(lambda: "locked" in out.read_text(), 60, "the holder taking the lock")
        status, stderr = _try(tmp_path, market="ETH")
        assert status == ALREADY_RUNNING
        lines = stderr.strip().splitlines()
        assert len(lines) == 1, stderr
        assert f"pid {holder.pid}, BTC" in lines[0] and "account 7 with API key index 25" in lines[0]
        assert "one API key index per process" in lines[0]
        assert _try(tmp_path, key=26) == (0, "")  # another key index of the same account
        assert _try(tmp_path, account=8) == (0, "")
        assert _try(tmp_path, venue="http://127.0.0.1:8201") == (0, "")
        assert _try(tmp_path, venue="HTTP://127.0.0.1:8101/")[0] == ALREADY_RUNNING  # same venue, other spelling
        holder.kill()  # SIGKILL: no clean-up code runs
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
    assert lock_path(tmp_path, VENUE, 7, 25).exists()  # left behind, and harmless:
    assert _try(tmp_path) == (0, "")


def test_release_and_retake_in_one_process(tmp_path: Path) -> None:
    lock = acquire_process_lock(VENUE, 7, 25, "BTC", lock_dir=tmp_path)
    assert _try(tmp_path)[0] == ALREADY_RUNNING
    lock.release()
    lock.release()  # twice is fine
    assert _try(tmp_path) == (0, "")


def test_venue_name_is_the_host_and_port() -> None:
    assert venue_name("https://mainnet.zklighter.elliot.ai") == "mainnet.zklighter.elliot.ai_443"
    assert venue_name("http://127.0.0.1:8101/") == "127.0.0.1_8101"
    assert venue_name("HTTP://LOCALHOST:8101") == "localhost_8101"


def test_the_lock_directory_does_not_follow_the_environment(monkeypatch):
    """A service and a shell differ in $TMPDIR and $XDG_RUNTIME_DIR: both must lock the same file."""
    from lmm.daemon.process_lock import default_lock_dir

    first = default_lock_dir()
    monkeypatch.setenv("TMPDIR", "/somewhere/else")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/12345")
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    assert default_lock_dir() == first
