# python -m sim.calibrate TAPE --out PROFILE.json: measure a recorded market and write a market profile.
#
#   TAPE is a tape directory (tape.py record/import) or an hftbacktest Binance .gz recording, which is
#   imported into a temporary tape first (`tape.py import FILE --format hftbacktest-binance`).
#
# Rules: the statistics are `sim.profile_stats`'s (the same code measures the simulator); the Binance
# stream is read in exchange-time order; a Lighter market in the same tape (a recorder tape) is measured
# too, with the Binance→Lighter lead-lag. The profile's `simulator` section is derived from the
# measurements by `sim.profiles.simulator_section` (documented there) and can be edited by hand.
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

from lmm.venue.tape import schema as s
from lmm.venue.tape.manifest import SymbolInfo
from lmm.venue.tape.reader import EXCHANGE, Tape
from sim.market_profile import (
    DEFAULT_TOLERANCES,
    PROFILE_FORMAT,
    PROFILE_VERSION,
    instrument_for,
    simulator_section,
)
from sim.profile_stats import BinanceBookState, LighterBookState, MarketRecorder, VenueSeries, market_stats

COIN_M_CONTRACT_USD = {"BTCUSD_PERP": 100.0}  # every other COIN-M contract is $10
_BINANCE_KINDS = (s.BINANCE_SNAPSHOT, s.BINANCE_DEPTH, s.BINANCE_TRADE)
_LIGHTER_KINDS = (s.LIGHTER_BOOK, s.LIGHTER_TRADE)


def _series(info: SymbolInfo) -> VenueSeries:
    usd_per_lot = None
    if info.size_unit == "contracts":
        usd_per_lot = COIN_M_CONTRACT_USD.get(info.symbol, 10.0) * 10.0 ** -info.size_decimals
    return VenueSeries(tick=10.0 ** -info.price_decimals, usd_per_lot=usd_per_lot, lot=10.0 ** -info.size_decimals)


def _levels(ticks: list[int], lots: list[int]) -> list[tuple[int, int]]:
    return list(zip(ticks, lots, strict=True))


def _lighter_for(symbols: tuple[SymbolInfo, ...], binance_symbol: str) -> SymbolInfo | None:
    lighter = [i for i in symbols if i.venue == "lighter"]
    return next((i for i in lighter if binance_symbol.startswith(i.symbol)), None)


def measure_tape(directory: str | Path, symbol: str | None = None) -> tuple[dict, dict]:
    """(measured statistics, source description) of one Binance symbol and its Lighter market, if any."""
    tape = Tape(directory)
    binance_infos = [i for i in tape.manifest.symbols if i.venue == "binance"]
    if not binance_infos:
        raise ValueError(f"{directory}: no Binance symbol in the tape")
    info = next((i for i in binance_infos if i.symbol == symbol), None) if symbol else binance_infos[0]
    if info is None:
        raise ValueError(f"{directory}: no Binance symbol {symbol!r}")
    lighter_info = _lighter_for(tape.manifest.symbols, info.symbol)
    binance = _series(info)
    binance_book = BinanceBookState(info.price_decimals, info.size_decimals)
    lighter = _series(lighter_info) if lighter_info else None
    lighter_book = LighterBookState() if lighter_info else None
    recorder = MarketRecorder(binance, binance_book, lighter, lighter_book)
    symbols = [info.symbol] + ([lighter_info.symbol] if lighter_info else [])
    kinds = _BINANCE_KINDS + (_LIGHTER_KINDS if lighter_info else ())
    for row in tape.events(kinds=kinds, symbols=symbols, order=EXCHANGE):
        kind, row_symbol = row[2], row[3]
        time_ns = row[4] if row[4] is not None else row[0]
        if kind == s.BINANCE_SNAPSHOT:
            binance_book.snapshot(row[6], _levels(row[8], row[9]), _levels(row[10], row[11]))
            continue
        recorder.advance(time_ns)
        if kind == s.BINANCE_DEPTH:
            binance_book.depth(row[5], row[6], row[7], _levels(row[8], row[9]), _levels(row[10], row[11]))
            binance.update_changes.append(len(row[8]) + len(row[10]))
        elif kind == s.BINANCE_TRADE:
            price_tick, lots, buyer_is_maker, trade_ns = row[6], row[7], row[8], row[9]
            MarketRecorder.trade(binance, trade_ns or time_ns, not buyer_is_maker, price_tick * binance.tick, lots)
        elif kind == s.LIGHTER_BOOK and lighter_book is not None and lighter is not None and row_symbol:
            changes = lighter_book.apply(bool(row[5]), _levels(row[8], row[9]), _levels(row[10], row[11]))
            if not row[5] and changes:
                lighter.update_changes.append(changes)
        elif kind == s.LIGHTER_TRADE and lighter is not None and not row[5]:
            for price, size, maker_ask, trade_ns in zip(row[8], row[9], row[10], row[11], strict=True):
                MarketRecorder.trade(lighter, trade_ns or time_ns, bool(maker_ask), price * lighter.tick, size)
    source = {"tape": str(directory), "binance_symbol": info.symbol, "binance_market": info.market,
              "lighter_symbol": lighter_info.symbol if lighter_info else None,
              "start_ns": tape.manifest.start_ns, "end_ns": tape.manifest.end_ns}
    return market_stats(binance, lighter), source


def _import_gz(path: Path, into: Path) -> Path:
    from lmm.venue.tape.cli import main as tape_main

    out = into / path.name.removesuffix(".gz")
    code = tape_main(["import", str(path), "--format", "hftbacktest-binance", "--out", str(out)])
    if code:
        raise RuntimeError(f"tape import of {path} failed ({code})")
    return out


def measure(path: str | Path, symbol: str | None = None) -> tuple[dict, dict]:
    """(measured, source) of a tape directory or an hftbacktest .gz recording."""
    path = Path(path)
    if path.is_file():
        with tempfile.TemporaryDirectory(prefix="calibrate-") as scratch:
            measured, source = measure_tape(_import_gz(path, Path(scratch)), symbol)
        source["tape"] = path.name
        return measured, source
    return measure_tape(path, symbol)


def build_profile(name: str, markets: dict[str, tuple[dict, dict]]) -> dict:
    """A profile from {instrument: (measured, source)}: the Lighter assumptions are shared, the instruments'
    own settings come from their measurements."""
    simulator: dict = {"params": {}, "instruments": {}}
    for instrument, (measured, _) in sorted(markets.items()):
        section = simulator_section(measured, instrument)
        params = section["params"]
        if simulator["params"]:  # market-wide knobs measured on several tapes: the mean
            params = {k: (simulator["params"][k] + v) / 2 if isinstance(v, float) else v for k, v in params.items()}
        simulator["params"] = params
        simulator["instruments"].update(section["instruments"])
    return {"format": PROFILE_FORMAT, "version": PROFILE_VERSION, "name": name,
            "markets": {key: {"source": source, "measured": measured}
                        for key, (measured, source) in sorted(markets.items())},
            "simulator": simulator, "tolerances": DEFAULT_TOLERANCES}


def calibrate(paths: list[str | Path], name: str, symbol: str | None = None) -> dict:
    """The profile of one or more tapes (one instrument each: ETH* -> ETHUSDT, BTC* -> BTCUSDT)."""
    markets: dict[str, tuple[dict, dict]] = {}
    for path in paths:
        measured, source = measure(path, symbol)
        instrument = instrument_for(source["binance_symbol"])
        if instrument in markets:
            raise ValueError(f"two tapes for {instrument}")
        markets[instrument] = (measured, source)
    return build_profile(name, markets)


def _round(value: object) -> object:
    if isinstance(value, float):
        return value if not math.isfinite(value) or value == 0 else float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def write_profile(profile: dict, out: str | Path) -> None:
    Path(out).write_text(json.dumps(_round(profile), indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.calibrate", description="measure tapes into a profile")
    parser.add_argument("tapes", nargs="+", help="tape directories or hftbacktest Binance .gz recordings")
    parser.add_argument("--out", required=True, help="profile JSON to write")
    parser.add_argument("--name", help="profile name (default: the --out file's stem)")
    parser.add_argument("--symbol", help="Binance symbol to measure (default: each tape's first)")
    args = parser.parse_args(argv)
    profile = calibrate(args.tapes, args.name or Path(args.out).stem, args.symbol)
    write_profile(profile, args.out)
    for instrument, market in profile["markets"].items():
        binance = market["measured"]["binance"]
        corr = binance["imbalance_return_corr"]["1"]["r"]
        print(f"{args.out} {instrument} ({market['source']['binance_symbol']}): {binance['seconds']:.0f} s, "
              f"1 s vol {binance['mid_return_std_bp']['1']:.2f} bp, {binance['taker_orders_per_s']:.1f} taker "
              f"orders/s, 1 s OBI->return r={corr:+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
