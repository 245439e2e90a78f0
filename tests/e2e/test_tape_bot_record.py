"""The bot's --record: the daemon against the simulator writes a tape of both venues' frames and of its own
intents, outcomes, order reports, fills and model states that `tape info` reads with no gap; without
--record nothing is written; the recorder's rows read back typed (literal objects, no sockets)."""
from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import (
    ROOT,
    Daemon,
    base_env,
    live_env,
    position_and_volume,
    resting_quotes,
    run_cli,
    start_daemon,
    two_sided,
    wait_for,
)
from tape_samples import BINANCE, FRAME1, FRAME2, FRAME3, FRAME4, LIGHTER, LIGHTER_SNAPSHOT, LIGHTER_UPDATE, SNAPSHOT

from lmm.core.account import Fill
from lmm.core.ids import ClientOrderIndex, OrderIndex
from lmm.core.intents import CancelOrder, CreateOrder, UpdateLeverage
from lmm.core.order_state import Side
from lmm.core.orders import OrderReport
from lmm.core.outcomes import Outcome, SendResult
from lmm.venue.tape import as_dict, open_tape
from lmm.venue.tape import schema as s
from lmm.venue.tape.bot_recorder import BinanceTap, BotRecorder
from lmm.venue.tape.integrity import check_tape
from lmm.venue.tape.writer import TapeWriter
from sim.testing import SimAccount, SimHandle, start_simulator

MARKET_ID = 1
SEED = 20261206
STEP_NS = 100_000_000  # vol_obi.step_ns (default)
MIN_RECORD_S = 20.0
STOP_WAIT_S = 60.0


# ---- the recorder on literal objects ----------------------------------------------------------------------


class FakeClock:
    """LocalClock's interface: strictly increasing local ns, and the monotonic-to-local offset."""

    offset_ns = 1_732_600_000_000_000_000

    def __init__(self) -> None:
        self.now = self.offset_ns

    def __call__(self) -> int:
        self.now += 1_000
        return self.now


def _by_kind(directory: Path) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for ev in open_tape(directory).events(with_raw=True):
        rows.setdefault(ev[2], []).append(as_dict(ev))
    return rows


def test_recorder_rows_read_back_typed_and_a_binance_break_is_a_gap(tmp_path: Path) -> None:
    writer = TapeWriter(tmp_path / "tape", [LIGHTER, BINANCE], {"kind": "bot"}, background=False)
    clock = FakeClock()
    tap = BinanceTap(writer, clock, "BTCUSDT", "btcusdt@depth@100ms")
    rec = BotRecorder(writer, clock, "BTC", MARKET_ID, tap)  # type: ignore[arg-type]
    rec.lighter_connection("connect", {"url": "ws://x"})
    rec.lighter_book_frame(LIGHTER_SNAPSHOT)
    rec.lighter_book_frame(LIGHTER_UPDATE)
    tap.connect("ws://binance")
    request_ns = tap.snapshot_request("http://binance/fapi/v1/depth", 1000)
    for frame, (u, pu) in ((FRAME1, (8123456789140, 8123456789077)), (FRAME2, (8123456789171, 8123456789140))):
        tap.depth(frame, u, pu)
    tap.snapshot(SNAPSHOT.encode(), request_ns, 1000)
    tap.depth(FRAME3, 8123456789203, 8123456789171)
    tap.depth(FRAME4, 8123456789244, 8123456789215)  # pu 215 after u 203: a break
    create = CreateOrder(MARKET_ID, 2959921354849, 2400, 999669, is_ask=False)
    cancel = CancelOrder(MARKET_ID, 562949953421277)
    leverage = UpdateLeverage(MARKET_ID, 2)
    rec.on_send([create, cancel])
    written = 5_000_000_000  # monotonic ns
    rec.on_results([SendResult(Outcome.ACCEPTED, (create,), 200, "", ("h1",), 990, "ws", written),
                    SendResult(Outcome.REJECTED, (cancel,), 21120, "no such order", (), None, "ws", None)])
    rec.on_send([leverage])
    rec.on_results([SendResult(Outcome.UNKNOWN, (leverage,), None, "timeout", (), None, "rest", None)])
    rec.orders([OrderReport(OrderIndex(562949953421277), ClientOrderIndex(2959921354849), Side.BID, "open",
                            999669, 2400, 0)])
    rec.orders([OrderReport(OrderIndex(562949953421278), None, Side.ASK, "filled", 1000018, 0, None)], "rest")
    rec.fills([Fill(26, Side.ASK, 1000038, 2400, True, 1732600000500)])
    rec.state(7_000_000_000, (99987.35, 1.5, -0.25, "binance", math.nan, 3.2, True, 999650, 999700, 999660,
                              999690, -2400))
    rec.close({"extra": 1})

    rows = _by_kind(tmp_path / "tape")
    assert s.OTHER not in rows, rows.get(s.OTHER)  # nothing failed to decode
    assert [r["nonce"] for r in rows[s.LIGHTER_BOOK]] == [1000, 1007]
    assert [r["final_id"] for r in rows[s.BINANCE_DEPTH]] == [8123456789140, 8123456789171, 8123456789203,
                                                             8123456789244]
    [snapshot] = rows[s.BINANCE_SNAPSHOT]
    assert (snapshot["request_ns"], snapshot["limit"], snapshot["last_update_id"]) == (request_ns, 1000,
                                                                                       8123456789150)
    intents = rows[s.BOT_INTENT]
    assert [(r["send_id"], r["index"], r["tx_type"]) for r in intents] == [(1, 0, 14), (1, 1, 15), (2, 0, 20)]
    assert (intents[0]["client_index"], intents[0]["is_ask"], intents[0]["price_tick"], intents[0]["size_lots"],
            intents[0]["time_in_force"]) == (2959921354849, False, 999669, 2400, 2)
    assert intents[1]["order_index"] == 562949953421277 and intents[1]["price_tick"] is None
    assert (intents[2]["leverage"], intents[2]["margin_mode"]) == (2, 0)
    outcomes = rows[s.BOT_OUTCOME]
    assert [(r["send_id"], r["first_index"], r["intent_count"], r["outcome"], r["code"]) for r in outcomes] == [
        (1, 0, 1, "accepted", 200), (1, 1, 1, "rejected", 21120), (2, 0, 1, "unknown", None)]
    assert outcomes[0]["written_ns"] == written + FakeClock.offset_ns  # on the tape's clock
    assert outcomes[0]["tx_hashes"] == ["h1"] and outcomes[0]["volume_quota_remaining"] == 990
    orders = rows[s.BOT_ORDER]
    assert [(r["source"], r["order_index"], r["client_index"], r["is_ask"], r["status"], r["remaining_lots"],
             r["filled_lots"]) for r in orders] == [
        ("ws", 562949953421277, 2959921354849, False, "open", 2400, 0),
        ("rest", 562949953421278, None, True, "filled", 0, None)]
    [fill] = rows[s.BOT_FILL]
    assert (fill["trade_id"], fill["is_ask"], fill["price_tick"], fill["size_lots"], fill["is_maker"],
            fill["exch_ns"]) == (26, True, 1000038, 2400, True, 1732600000500 * 1_000_000)
    [state] = rows[s.BOT_STATE]
    assert state["local_ns"] == 7_000_000_000 + FakeClock.offset_ns
    assert (state["mid"], state["alpha_source"], state["fair_price"], state["quote_bid_tick"],
            state["position_lots"]) == (99987.35, "binance", None, 999650, -2400)
    events = [(r["venue"], r["event"]) for r in rows[s.EVENT]]
    assert events.count(("binance", s.EV_GAP)) == 1 and events.count(("binance", s.EV_RESYNC)) == 1
    assert events[-1] == ("tape", s.EV_STOP) and json.loads(rows[s.EVENT][-1]["detail"])["extra"] == 1

    report = check_tape(open_tape(tmp_path / "tape"))
    assert len(report.gaps) == 1 and report.gaps[0].venue == "binance"
    bot = report.bot["BTC"]
    assert (bot.intents, len(bot.sends), bot.outcomes, bot.orders, bot.fills, bot.states) == (
        3, 2, {"accepted": 1, "rejected": 1, "unknown": 1}, 2, 1, 1)


def test_a_malformed_bot_object_goes_to_other_and_the_rest_is_written(tmp_path: Path) -> None:
    writer = TapeWriter(tmp_path / "tape", [LIGHTER], {"kind": "bot"}, background=False)
    rec = BotRecorder(writer, FakeClock(), "BTC", MARKET_ID)  # type: ignore[arg-type]
    rec.state(1, (1.0,))  # too few values
    rec.state(2, (99987.35, 1.5, 0.0, "none", 99987.35, 3.2, False, None, None, None, None, 0))
    rec.close()
    rows = _by_kind(tmp_path / "tape")
    assert len(rows[s.BOT_STATE]) == 1
    [other] = rows[s.OTHER]
    assert other["venue"] == "bot" and "bot_state" in other["note"]


# ---- the daemon against the simulator ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    # the simulated market maker quotes 1.6 bp from its fair price: the demo spread's 1.5 bp quotes are at
    # the touch and get filled every few seconds
    with start_simulator(seed=SEED, lighter_half_spread_bps=1.6) as handle:
        yield handle


def _volume(sim: SimHandle, account: SimAccount, daemon: Daemon) -> float:
    if daemon.process.poll() is not None:
        raise AssertionError(f"daemon exited ({daemon.process.returncode}):\n{daemon.tail()}")
    return position_and_volume(sim, account.account_index, MARKET_ID)[1]


def _account_trade_ids(sim: SimHandle, account_index: int) -> set[int]:
    engine = sim.simulator_thread.simulator.engine

    async def read() -> set[int]:
        return {trade.trade_id for trade in engine.account_trades(account_index, n=10_000)}

    return sim.simulator_thread.call(read)


def test_record_writes_both_venues_and_the_bots_events_with_no_gap(sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="1000", tier="premium")
    tape_dir = tmp_path / "tape"
    daemon = start_daemon(tmp_path, live_env(sim, account), "--live", "--record", str(tape_dir))
    try:
        started = time.monotonic()
        wait_for(lambda: _volume(sim, account, daemon) > 0, 90, "a fill of the account", interval=0.25)
        wait_for(lambda: time.monotonic() - started >= MIN_RECORD_S, MIN_RECORD_S + 1, "the recording time")
        status = daemon.stop(signal.SIGTERM, timeout=STOP_WAIT_S)
    finally:
        daemon.kill()
    assert status == 0, daemon.tail()
    assert "Traceback" not in daemon.output()

    tape = open_tape(tape_dir)
    assert tape.manifest.source["kind"] == "bot" and tape.manifest.venues == ["binance", "lighter"]
    rows = _by_kind(tape_dir)
    lighter_snapshots = [r for r in rows[s.LIGHTER_BOOK] if r["is_snapshot"]]
    assert lighter_snapshots and len(rows[s.LIGHTER_BOOK]) > len(lighter_snapshots)
    assert len(rows[s.BINANCE_DEPTH]) > 10 and rows[s.BINANCE_SNAPSHOT]
    assert s.LIGHTER_TRADE in rows

    intents, outcomes = rows[s.BOT_INTENT], rows[s.BOT_OUTCOME]
    creates = {r["client_index"] for r in intents if r["tx_type"] == 14}
    assert creates, "no order was placed"
    # every send's outcomes account for each of its intents, in order
    per_send: dict[int, int] = {}
    for r in intents:
        per_send[r["send_id"]] = per_send.get(r["send_id"], 0) + 1
    covered: dict[int, int] = {}
    for r in outcomes:
        assert r["first_index"] == covered.get(r["send_id"], 0)
        covered[r["send_id"]] = r["first_index"] + r["intent_count"]
    assert covered == per_send
    assert any(r["outcome"] == "accepted" for r in outcomes)

    reports = rows[s.BOT_ORDER]
    assert {r["client_index"] for r in reports if r["source"] == "ws"} & creates
    fills = rows[s.BOT_FILL]
    assert fills and {r["trade_id"] for r in fills} <= _account_trade_ids(sim, account.account_index)

    states = rows[s.BOT_STATE]
    span_steps = (states[-1]["local_ns"] - states[0]["local_ns"]) / STEP_NS
    # a fixed clock: at most one state per step boundary; late wake-ups on a loaded box may skip some
    assert 0.5 * span_steps <= len(states) <= span_steps + 2, (len(states), span_steps)
    assert any(r["warmed_up"] and r["quote_bid_tick"] for r in states)
    assert all(r["volatility"] is not None for r in states)

    report = check_tape(tape)
    assert report.gaps == [], [gap.describe() for gap in report.gaps]
    assert report.bot["BTC"].fills == len(fills)
    info = subprocess.run([sys.executable, str(ROOT / "tape.py"), "info", str(tape_dir)], capture_output=True,
                          text=True, timeout=120)
    assert info.returncode == 0, info.stderr
    assert re.search(r"^tape: \d+ events, [\d.]+ s, venues: binance, lighter, gaps: 0, resyncs: \d+$",
                     info.stdout, re.MULTILINE), info.stdout
    assert re.search(rf"^bot BTC: {len(intents)} intents in {len(per_send)} sends, .*{len(fills)} fills, "
                     rf"{len(states)} model states$", info.stdout, re.MULTILINE), info.stdout


def test_without_record_no_tape_is_written(sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="1000", tier="premium")
    daemon = start_daemon(tmp_path, live_env(sim, account), "--live")
    try:
        wait_for(lambda: two_sided(resting_quotes(sim, account.account_index, MARKET_ID)), 60, "quotes")
        status = daemon.stop(signal.SIGTERM, timeout=STOP_WAIT_S)
    finally:
        daemon.kill()
    assert status == 0, daemon.tail()
    assert list(tmp_path.rglob("manifest.json")) == []
    assert list(tmp_path.rglob("*.parquet")) == []


def test_record_into_an_existing_tape_is_refused_in_one_line(tmp_path: Path) -> None:
    TapeWriter(tmp_path / "old", [LIGHTER], {"kind": "bot"}, background=False).close()
    result = run_cli(tmp_path, base_env(), "--sim", "--record", str(tmp_path / "old"), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == f"--record {tmp_path / 'old'}: already holds a tape; choose another directory"
