"""The kill switch's state file (lmm/daemon/kill_state.py) and the command line around it: written on a trip,
atomically; a start refuses while it exists, before anything reaches the venue; --reset-kill-switch clears it."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import market_maker_v2
from lmm.core.kill_switch import SEC, Trip
from lmm.daemon import kill_state
from lmm.daemon.kill_state import EXIT_KILL_SWITCH, clear, read_trip, state_path, write_trip

TRIP = Trip("daily_loss_usd", 100.42, 100.0, 7 * SEC, 1_772_452_800 * SEC)  # 2026-03-02 12:00 UTC


def test_a_trip_is_written_and_read_back(tmp_path: Path):
    path = state_path(tmp_path / "logs")
    assert read_trip(path) is None
    write_trip(path, TRIP, "BTC")
    record = read_trip(path)
    assert record is not None
    assert record.line == "KILL SWITCH: daily_loss_usd 100.42 > 100.00"
    assert (record.symbol, record.tripped_at) == ("BTC", "2026-03-02T12:00:00+00:00")
    data = json.loads(path.read_text())
    assert (data["which"], data["value"], data["limit"]) == ("daily_loss_usd", 100.42, 100.0)
    assert sorted(p.name for p in path.parent.iterdir()) == ["kill_switch.json"]  # no temporary file left


def test_the_write_is_atomic_rename_of_a_complete_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The target only ever appears through os.replace of a temporary file that is already complete."""
    path = state_path(tmp_path)
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src, dst):
        replaced.append((Path(src).read_text(), Path(dst).name))
        assert not Path(dst).exists()
        real_replace(src, dst)

    monkeypatch.setattr(kill_state.os, "replace", spy)
    write_trip(path, TRIP, "BTC")
    assert len(replaced) == 1
    content, target = replaced[0]
    assert target == "kill_switch.json" and json.loads(content)["line"].startswith("KILL SWITCH: ")


def test_a_failed_write_leaves_the_old_state_and_no_temporary_file(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch):
    path = state_path(tmp_path)
    write_trip(path, TRIP, "BTC")
    before = path.read_text()

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(kill_state.os, "replace", fail)
    with pytest.raises(OSError):
        write_trip(path, Trip("position_usd", 5.0, 1.0, 0, 0), "ETH")
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kill_switch.json"]


def test_an_unreadable_state_file_counts_as_tripped(tmp_path: Path):
    path = state_path(tmp_path)
    path.write_text("{half a fi")
    record = read_trip(path)
    assert record is not None and "unreadable" in record.line


def test_clear_removes_the_file_and_says_what_it_was(tmp_path: Path):
    path = state_path(tmp_path)
    assert clear(path) is None
    write_trip(path, TRIP, "BTC")
    assert clear(path).line == TRIP.line
    assert not path.exists() and read_trip(path) is None


def test_a_start_refuses_while_tripped_and_runs_after_the_reset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]):
    """The refusing start exits 3 before the daemon is even imported (nothing reaches the venue); after
    --reset-kill-switch the same command line gets as far as running the daemon."""
    log_dir = tmp_path / "logs"
    write_trip(state_path(log_dir), TRIP, "BTC")
    monkeypatch.setenv("API_KEY_PRIVATE_KEY", "")  # simulator mode: no credentials read, no process lock
    ran: list[bool] = []

    async def fake_main(*args, **kwargs) -> int:
        ran.append(True)
        return 0

    monkeypatch.setattr(market_maker_v2, "_main", fake_main)
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    argv = ["--sim", "--log-dir", str(log_dir), "--env-file", str(env_file)]
    assert market_maker_v2.main(argv) == EXIT_KILL_SWITCH
    assert ran == []
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "KILL SWITCH: daily_loss_usd 100.42 > 100.00" in err[0] and "--reset-kill-switch" in err[0]

    assert market_maker_v2.main(["--reset-kill-switch", "--log-dir", str(log_dir)]) == 0
    out = capsys.readouterr().out
    assert "kill switch reset" in out and "daily_loss_usd" in out
    assert not state_path(log_dir).exists()
    assert market_maker_v2.main(argv) == 0
    assert ran == [True]
    assert market_maker_v2.main(["--reset-kill-switch", "--log-dir", str(log_dir)]) == 0
    assert "not tripped" in capsys.readouterr().out


def test_the_daemon_acts_once_on_a_trip(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    """The monitor (lmm/daemon/kill_switch.py): one KILL SWITCH line, quoting paused, the trip recorded,
    ``tripped`` set; later frames and fills change nothing."""
    from types import SimpleNamespace

    from lmm.core.account import AccountState, Fill
    from lmm.core.kill_switch import RiskLimits
    from lmm.core.market import MarketInfo
    from lmm.core.order_state import Side
    from lmm.daemon.kill_switch import KillSwitchMonitor

    market = MarketInfo(1, "BTC", 1, 5, 20, 10_000_000)
    account = AccountState(7, 1, 1, 5)
    pauses: list[tuple[str, str]] = []
    book = SimpleNamespace(mid_ticks2=2 * 1_000_000)  # mid 100000.0
    mm = SimpleNamespace(account=account, feed=SimpleNamespace(book=book),
                         pause=lambda reason, detail="": pauses.append((reason, detail)))
    seen: list[int] = []
    monitor = KillSwitchMonitor(RiskLimits(0.0, 0.0, 1_000.0, 0), mm, market, clock_ns=lambda: 5 * SEC,
                                wall_ns=lambda: TRIP.wall_ns, state_path=state_path(tmp_path))
    on_fills = monitor.fills_then(lambda fills: seen.append(len(fills)))
    account.position_known, account.position_lots = True, 1_000  # 0.01 BTC = $1,000: at the cap
    monitor.check()
    assert not monitor.tripped.is_set()
    account.position_lots = 1_001
    with caplog.at_level("INFO"):
        on_fills([Fill(1, Side.BID, 1_000_000, 1, True, 0)])
        monitor.check()
        on_fills([Fill(2, Side.BID, 1_000_000, 1, True, 0)])
    assert seen == [1, 1]  # the fills still reach the market maker
    assert monitor.tripped.is_set() and monitor.trip.line == "KILL SWITCH: position_usd 1001.00 > 1000.00"
    assert [r.getMessage() for r in caplog.records if "KILL SWITCH" in r.getMessage()] == [monitor.trip.line]
    assert pauses == [("kill switch", "position_usd")]
    assert read_trip(state_path(tmp_path)).line == monitor.trip.line
