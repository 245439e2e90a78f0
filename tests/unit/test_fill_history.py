"""The fill history's writer (day files, header once, append after a restart), its rows from the account's
fills, and report.py's PnL by day from literal rows (exact numbers)."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

import report
from lmm.core.account import AccountState, Fill
from lmm.core.fill_ledger import AverageCostLedger, LedgerFill, daily_summaries
from lmm.core.ids import ClientOrderIndex, OrderIndex
from lmm.core.market import MarketInfo
from lmm.core.order_state import Side
from lmm.daemon.fill_history import COLUMNS, FillHistoryWriter, FillRow, day_files, fill_rows, read_rows

BTC = MarketInfo(market_id=1, symbol="BTC", price_decimals=1, size_decimals=5, min_base_lots=20,
                 min_quote_micro_usd=10_000_000)
DAY_NS = 86_400 * 10**9
JAN1 = 1_767_225_600 * 10**9  # 2026-01-01 00:00 UTC


def row(time_ns: int, trade_id: int, side: str = "buy", price: str = "100.0", size: str = "1",
        fee: str = "0.01", maker: bool = True, mid: str = "100.0", position_after: str = "") -> FillRow:
    return FillRow(time="", time_ns=time_ns, symbol="BTC", side=side, price=price, size=size,
                   notional_usd=str(Decimal(price) * Decimal(size)), fee_usd=fee, fee_rate="0.00004", maker=maker,
                   trade_id=trade_id, order_index=None, client_order_index=None, mid=mid, fair_price="",
                   position_after=position_after)


# ---- the writer ------------------------------------------------------------------------------------------

def test_a_fill_each_side_of_utc_midnight_goes_to_two_files(tmp_path: Path):
    writer = FillHistoryWriter(tmp_path / "fills")
    writer.append([row(JAN1 + DAY_NS - 1, 1), row(JAN1 + DAY_NS, 2)])
    files = day_files(tmp_path / "fills")
    assert [f.name for f in files] == ["fills-2026-01-01.csv", "fills-2026-01-02.csv"]
    assert [[r["trade_id"] for r in read_rows(f)] for f in files] == [["1"], ["2"]]


def test_header_once_and_a_restart_appends(tmp_path: Path):
    FillHistoryWriter(tmp_path).append([row(JAN1 + 1, 1)])
    FillHistoryWriter(tmp_path).append([row(JAN1 + 2, 2), row(JAN1 + 3, 3)])  # a new process, the same day
    [path] = day_files(tmp_path)
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert sum(line == lines[0] for line in lines) == 1
    assert [r["trade_id"] for r in read_rows(path)] == ["1", "2", "3"]


def test_nothing_is_created_without_a_fill(tmp_path: Path):
    FillHistoryWriter(tmp_path / "fills").append([])
    assert not (tmp_path / "fills").exists()


def test_a_foreign_csv_is_refused(tmp_path: Path):
    path = tmp_path / "fills-2026-01-01.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a fill history file"):
        read_rows(path)


# ---- rows from the account's fills ----------------------------------------------------------------------

def test_rows_from_a_venue_trade_frame():
    """Fee from the rate the venue sends (1e-6 of notional) and its usd_amount, rounded up to the micro-dollar;
    the position walked back from the batch's final position; the mid exact to half a tick."""
    account = AccountState(account_index=7, market_id=1, price_decimals=1, size_decimals=5)
    trades = [
        {"trade_id": 11, "market_id": 1, "price": "100000.5", "size": "0.01000", "usd_amount": "1000.005000",
         "ask_account_id": 7, "bid_account_id": 9, "is_maker_ask": True, "ask_id": 2**48 + 5, "bid_id": 2**48 + 6,
         "ask_client_id": 1234, "bid_client_id": 0, "timestamp": 1_767_225_600_123, "maker_fee": 28, "taker_fee": 196},
        {"trade_id": 12, "market_id": 1, "price": "100001.0", "size": "0.00300", "usd_amount": "300.003000",
         "ask_account_id": 9, "bid_account_id": 7, "is_maker_ask": True, "ask_id": 2**48 + 8, "bid_id": 2**48 + 9,
         "timestamp": 1_767_225_600_456, "taker_fee": 196},
    ]
    fills = account.on_trades(trades)
    assert fills[0].fee_ticks == 28 and fills[0].is_maker and fills[0].client_index == ClientOrderIndex(1234)
    assert fills[1].fee_ticks == 196 and not fills[1].is_maker and fills[1].client_index is None
    rows = fill_rows(fills, BTC, position_after_lots=-500, mid_ticks2=2_000_011, fair_price=100000.61,
                     wall_ns=0)
    first, second = rows
    assert first.cells() == ["2026-01-01T00:00:00.123+00:00", "1767225600123000000", "BTC", "sell", "100000.5",
                             "0.01000", "1000.005000", "0.028001", "0.000028", "true", "11", str(2**48 + 5),
                             "1234", "100000.55", "100000.610", "-0.00800"]
    # 300.003 x 196e-6 = 0.058800588 -> 0.058801
    assert (second.side, second.fee_usd, second.maker, second.position_after) == ("buy", "0.058801", False,
                                                                                  "-0.00500")
    assert second.order_index == 2**48 + 9


def test_a_fill_without_venue_time_takes_the_wall_clock_and_nan_fair_is_empty():
    fill = Fill(1, Side.BID, 1_000_000, 100, True, 0, OrderIndex(2**48 + 1))
    [only] = fill_rows([fill], BTC, position_after_lots=100, mid_ticks2=None, fair_price=float("nan"),
                       wall_ns=JAN1 + 5)
    assert (only.time_ns, only.mid, only.fair_price, only.notional_usd, only.fee_usd) == (
        JAN1 + 5, "", "", "100.000000", "0.000000")


# ---- the ledger and the report --------------------------------------------------------------------------

def fill(time_ns: int, side: str, price: str, size: str, fee: str = "0", maker: bool = True,
         mid: str | None = None, after: str | None = None) -> LedgerFill:
    return LedgerFill(time_ns, side == "buy", Decimal(price), Decimal(size), Decimal(fee), maker,
                      None if mid is None else Decimal(mid), None if after is None else Decimal(after))


def test_average_cost_realizes_on_reduce_and_flips_at_the_fill_price():
    ledger = AverageCostLedger()
    assert ledger.apply(Decimal(2), Decimal(100)) == 0
    assert ledger.apply(Decimal(1), Decimal(103)) == 0  # average 101
    assert ledger.apply(Decimal(-1), Decimal(104)) == 3  # (104 - 101) x 1
    assert ledger.apply(Decimal(-4), Decimal(99)) == -4  # closes 2 at (99 - 101), opens 2 short at 99
    assert (ledger.position, ledger.cost) == (-2, -198)
    assert ledger.apply(Decimal(1), Decimal(97)) == 2  # short from 99, bought back at 97
    assert ledger.unrealized(Decimal(98)) == 1


def test_pnl_by_day_with_literal_fills():
    fills = [
        fill(JAN1 + 1, "buy", "100", "2", "0.02", after="2"),
        fill(JAN1 + 2, "sell", "101", "1", "0.01", mid="100.5", after="1"),
        fill(JAN1 + DAY_NS + 1, "sell", "98", "3", "0.05", maker=False, mid="98.5", after="-2"),
        fill(JAN1 + DAY_NS + 2, "buy", "97", "1", "-0.01", after="-1"),
    ]
    opening, days = daily_summaries(fills)
    assert opening.position == 0
    first, second = days
    assert (str(first.day), first.fills, first.maker_fills, first.volume_usd, first.fees_usd,
            first.pnl_realized_usd, first.position) == ("2026-01-01", 2, 2, 301, Decimal("0.03"), 1, 1)
    # closes the 1 long at (98 - 100) = -2, opens 2 short at 98; buys 1 back at 97: +1
    assert (second.fills, second.taker_fills, second.fees_usd, second.pnl_realized_usd, second.position,
            second.max_abs_position, second.position_mismatches) == (2, 1, Decimal("0.04"), -1, -1, 2, 0)


def test_a_history_that_starts_with_a_position_takes_it_at_the_first_mid():
    opening, [day] = daily_summaries([fill(JAN1, "sell", "110", "1", mid="109", after="1")])
    assert (opening.position, opening.price) == (2, 109)
    assert day.pnl_realized_usd == 1 and day.position == 1


def test_a_missing_fill_shows_as_a_position_mismatch():
    _, [day] = daily_summaries([fill(JAN1, "buy", "100", "1", after="1"), fill(JAN1 + 1, "buy", "100", "1",
                                                                            after="3")])
    assert day.position_mismatches == 1


def write_literal_history(directory: Path) -> None:
    FillHistoryWriter(directory).append([
        row(JAN1 + 1, 1, "buy", "100.0", "2", "0.02", position_after="2"),
        row(JAN1 + 2, 2, "sell", "101.0", "1", "0.01", mid="100.5", position_after="1"),
        row(JAN1 + DAY_NS + 1, 3, "sell", "98.0", "3", "0.05", maker=False, mid="98.5", position_after="-2"),
        row(JAN1 + DAY_NS + 2, 4, "buy", "97.0", "1", "-0.01", mid="97.5", position_after="-1"),
    ])


def test_report_cli_prints_pnl_by_day_and_writes_report_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_literal_history(tmp_path / "fills")
    status = report.main(["--fills", str(tmp_path / "fills"), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert out[1] == ("2026-01-01  fills     2 (maker     2)  volume $301.00  fees $0.0300  realized $1.0000  "
                      "net $0.9700  position 1")
    assert out[2] == ("2026-01-02  fills     2 (maker     1)  volume $391.00  fees $0.0400  realized $-1.0000  "
                      "net $-1.0400  position -1")
    body = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {k: body[k] for k in ("fills", "maker_fills", "taker_fills", "volume_usd", "fees_usd",
                                 "pnl_realized_usd", "final_position", "max_abs_position")} == {
        "fills": 4, "maker_fills": 3, "taker_fills": 1, "volume_usd": 692.0, "fees_usd": 0.07,
        "pnl_realized_usd": 0.0, "final_position": -1.0, "max_abs_position": 2.0}
    # short 1 from 98, marked at the last mid 97.5: +0.5; net = 0 + 0.5 - 0.07
    assert (body["pnl_unrealized_usd"], body["pnl_net_usd"], body["mark_price"]) == (0.5, 0.43, 97.5)
    # markouts from the mids recorded at later fills: fill 1 (buy 100) -> fill 2's mid 100.5, +50 bp; fill 3
    # (sell 98) -> fill 4's mid 97.5, +51.02 bp; fills 2 and 4 have no later mid (a day, or nothing, later)
    one_second = body["markouts_bps"]["1s"]
    assert (one_second["all"]["count"], one_second["buy"]["mean_bps"]) == (2, pytest.approx(50.0))
    assert one_second["sell"]["mean_bps"] == pytest.approx(0.5 / 98 * 1e4)
    # the net PnL path: realized - fees + unrealized at the fill's mid; it ends at pnl_net_usd
    series = body["series"]  # steps: each value held until the next fill
    assert series["equity_usd"] == pytest.approx([-0.02, -0.02, 1.47, 1.47, -2.08, -2.08, 0.43])
    assert series["position"] == [2.0, 2.0, 1.0, 1.0, -2.0, -2.0, -1.0] and series["mid"][-1] == 97.5
    assert series["t_s"] == [0.0, 1e-9, 1e-9, 86_400.0, 86_400.0, 86_400.000000001, 86_400.000000001]
    assert series["fill_t_s"] == [0.0, 1e-9, 86_400.0, 86_400.000000001]
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3
    assert all((tmp_path / "out" / name).stat().st_size > 1000
               for name in ("mid_fills.png", "position_equity.png", "markouts.png"))
    assert "<h1>Fill history BTC</h1>" in page and f"<th>fill history</th><td>{tmp_path / 'fills'}</td>" in page
    assert "<th>fills</th><td>4 (maker 3, taker 1)</td>" in page and "<th>fees</th><td>$0.0700</td>" in page
    assert "<th>net PnL</th><td>$0.4300</td>" in page
    assert out[-1] == f"report: {tmp_path / 'out' / 'report.json'}, {tmp_path / 'out' / 'report.html'}"


@pytest.mark.parametrize(("period", "days", "fills"), [
    (["--from", "2026-01-01", "--to", "2026-01-01"], ["2026-01-01"], 2),
    (["--to", "2026-01-02T00:00:00"], ["2026-01-01"], 2),  # an ISO time as the end excludes it
    (["--from", "2026-01-02T00:00:00+01:00"], ["2026-01-02"], 2),  # 23:00 UTC on the 1st
    (["--from", "2026-01-01T00:00:00.000001Z", "--to", "2026-01-02 23:59"], ["2026-01-02"], 2),
])
def test_report_period_by_days_or_iso_times(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            period: list[str], days: list[str], fills: int):
    """The history's fills are 1 and 2 ns after midnight on 2026-01-01 and 2026-01-02."""
    write_literal_history(tmp_path / "fills")
    assert report.main(["--fills", str(tmp_path / "fills"), *period, "--out", str(tmp_path / "o")]) == 0
    body = json.loads((tmp_path / "o" / "report.json").read_text())
    assert (body["days"], body["fills"]) == (days, fills)
    assert len(body["series"]["fill_t_s"]) == fills and (tmp_path / "o" / "report.html").exists()


def test_report_period_carries_the_position_in(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_literal_history(tmp_path / "fills")
    status = report.main(["--fills", str(tmp_path / "fills"), "--from", "2026-01-02", "--out", str(tmp_path / "o")])
    assert status == 0
    body = json.loads((tmp_path / "o" / "report.json").read_text())
    assert (body["days"], body["fills"], body["pnl_realized_usd"]) == (["2026-01-02"], 2, -1.0)


@pytest.mark.parametrize("args", [["--fills", "{tmp}/nowhere"], ["--fills", "{tmp}"],
                                  ["--fills", "{tmp}/fills", "--from", "2027-01-01"]])
def test_report_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     args: list[str]):
    write_literal_history(tmp_path / "fills")
    status = report.main([a.format(tmp=tmp_path) for a in args] + ["--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("period", [["--from", "yesterday"], ["--to", "2026-13-01"], ["--from", "2026-01-01T25:00"],
                                    ["--from", "2026-01-02", "--to", "2026-01-01"]])
def test_report_cli_bad_day_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], period: list[str]):
    with pytest.raises(SystemExit) as stop:
        report.main(["--fills", "x", *period])
    assert stop.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
