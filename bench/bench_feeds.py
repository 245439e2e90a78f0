"""Per-message cost of the market-data feeds: parse + apply, at realistic message sizes. Prints figures only.

    .venv/bin/python bench/bench_feeds.py

Binance: a combined-stream depthUpdate with N bid and N ask changes near the touch (15 % deletions) applied
to a synced 1000-level book, decoded (a) with the typed msgspec struct used by binance_obi, (b) with
stdlib json (and orjson when installed) into dicts; plus the OBI band sum at sample time. Lighter: an
`update/order_book` message of N levels per side, decoded as ws_manager does (msgspec, untyped) or with
json, through LighterBook. Book sides: CBookSide when
the extension is built, else PyBookSide (printed).
"""
from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lmm.book.binance_depth import BinanceDepthSync, DepthEvent, DepthSnapshot
from lmm.book.lighter_book import LighterBook, default_side_factory
from lmm.venue.binance.obi_feed import decode_depth_frame

try:
    import orjson
except ImportError:  # optional: only for the comparison
    orjson = None

MID_TICKS = 970_000  # 97 000.0 at a 0.1 tick
rng = random.Random(12345)


def per_call_us(fn: Callable[[int], None], items: int, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(items):
            fn(i)
        best = min(best, time.perf_counter() - start)
    return best / items * 1e6


def price_text(ticks: int) -> str:
    return f"{ticks // 10}.{ticks % 10}0"


def binance_book() -> BinanceDepthSync:
    book_rng = random.Random(777)  # every variant starts from the identical book
    sync = BinanceDepthSync(1, 3)
    bids = [(price_text(MID_TICKS - k), f"{book_rng.uniform(0.001, 5):.3f}") for k in range(1000)]
    asks = [(price_text(MID_TICKS + 1 + k), f"{book_rng.uniform(0.001, 5):.3f}") for k in range(1000)]
    sync.feed(DepthEvent(1, 10, 0, 0, [], []))
    sync.on_snapshot(DepthSnapshot(5, bids, asks, 1000))
    assert sync.synced
    return sync


def binance_frames(levels: int, count: int, first_u: int) -> list[bytes]:
    frames = []
    u = first_u
    for _ in range(count):
        def side(sign: int, start: int) -> list[list[str]]:
            out = []
            for _ in range(levels):
                tick = start + sign * rng.randrange(0, 60)
                qty = "0.000" if rng.random() < 0.15 else f"{rng.uniform(0.001, 5):.3f}"
                out.append([price_text(tick), qty])
            return out

        frames.append(json.dumps({"stream": "btcusdt@depth@100ms", "data": {
            "e": "depthUpdate", "E": 1, "T": 1, "s": "BTCUSDT", "U": u + 1, "u": u + 7, "pu": u,
            "b": side(-1, MID_TICKS), "a": side(1, MID_TICKS + 1)}}).encode())
        u += 7
    return frames


def typed_apply(sync: BinanceDepthSync, frame: bytes) -> None:
    sync.feed(decode_depth_frame(frame)[1])


def dict_apply(loads: Callable[[bytes], dict]) -> Callable[[BinanceDepthSync, bytes], None]:
    def run(sync: BinanceDepthSync, frame: bytes) -> None:
        data = loads(frame)["data"]
        sync.feed(DepthEvent(data["U"], data["u"], data["pu"], data["E"], data["b"], data["a"]))
    return run


def time_stream(apply: Callable[[BinanceDepthSync, bytes], None], frames: list[bytes], repeat: int = 3) -> float:
    """Best per-frame time of applying the whole stream to a fresh copy of the same synced book."""
    best = float("inf")
    for _ in range(repeat):
        sync = binance_book()
        start = time.perf_counter()
        for frame in frames:
            apply(sync, frame)
        best = min(best, time.perf_counter() - start)
        assert sync.synced
    return best / len(frames) * 1e6


def bench_binance(levels: int) -> None:
    frames = binance_frames(levels, 400, 10)
    size = sum(map(len, frames)) / len(frames)
    line = (f"binance depthUpdate {levels:>3} levels/side ({size / 1000:.1f} kB) parse+apply: "
            f"msgspec typed {time_stream(typed_apply, frames):6.1f} us, "
            f"json {time_stream(dict_apply(json.loads), frames):6.1f} us")
    if orjson is not None:
        line += f", orjson {time_stream(dict_apply(orjson.loads), frames):6.1f} us"
    decode_only = per_call_us(lambda i: decode_depth_frame(frames[i]), len(frames))
    json_only = per_call_us(lambda i: json.loads(frames[i]), len(frames))
    parse = f"msgspec {decode_only:.1f} us, json {json_only:.1f} us"
    if orjson is not None:
        parse += f", orjson {per_call_us(lambda i: orjson.loads(frames[i]), len(frames)):.1f} us"
    print(f"{line}   [parse only: {parse}]")


def bench_obi_sample() -> None:
    sync = binance_book()
    print(f"binance OBI band sum (1000 levels/side, d=0.025): "
          f"{per_call_us(lambda i: sync.imbalance_lots(0.025), 2000):.1f} us per sample")


def bench_lighter(levels: int) -> None:
    book = LighterBook(1, 1, 5)
    nonce = 100
    snapshot = {"type": "subscribed/order_book", "channel": "order_book:1", "order_book": {
        "code": 0, "nonce": nonce, "begin_nonce": 0, "offset": 1,
        "bids": [{"price": price_text(MID_TICKS - k)[:-1], "size": "0.50000"} for k in range(300)],
        "asks": [{"price": price_text(MID_TICKS + 1 + k)[:-1], "size": "0.50000"} for k in range(300)]}}
    book.on_message(snapshot)
    messages = []
    for _ in range(2000):
        def side(sign: int, start: int) -> list[dict[str, str]]:
            return [{"price": price_text(start + sign * rng.randrange(0, 40))[:-1],
                     "size": "0.00000" if rng.random() < 0.15 else f"{rng.uniform(0.001, 3):.5f}"}
                    for _ in range(levels)]
        messages.append(json.dumps({"type": "update/order_book", "channel": "order_book:1", "order_book": {
            "code": 0, "nonce": nonce + 5, "begin_nonce": nonce, "offset": 1,
            "bids": side(-1, MID_TICKS), "asks": side(1, MID_TICKS + 1)}}))
        nonce += 5

    def timed(loads: Callable[[str], dict]) -> float:
        book.on_message(snapshot)

        def apply(i: int) -> None:
            book.on_message(loads(messages[i]))

        t = per_call_us(apply, len(messages), repeat=1)  # the nonce chain advances: one pass per snapshot
        assert book.valid, book.invalid_reason
        return t

    print(f"lighter update/order_book {levels:>3} levels/side parse+apply: "
          f"msgspec (as ws_manager) {timed(msgspec.json.decode):6.1f} us, json {timed(json.loads):6.1f} us")


def main() -> None:
    print(f"python {sys.version.split()[0]}, book side {default_side_factory().__name__}, "
          f"orjson {'yes' if orjson else 'not installed'}")
    for levels in (10, 50, 200):
        bench_binance(levels)
    bench_obi_sample()
    for levels in (2, 10, 50):
        bench_lighter(levels)


if __name__ == "__main__":
    main()
