"""The Binance depth sync fed levels already on its grid (``in_ticks``, as a tape holds them) behaves exactly as
when fed the venue's decimal strings: same actions, counters, chain and book, on random chains with gaps,
replays, stale and partial snapshots, crossed books and duplicate levels."""
from __future__ import annotations

import random

import pytest

from lmm.book.binance_depth import BinanceDepthSync, DepthEvent, DepthSnapshot
from lmm.book.book_side import PyBookSide, parse_scaled

PRICE_DECIMALS, SIZE_DECIMALS = 2, 3
MID = 268_000


def text(value: int, decimals: int, rng: random.Random) -> str:
    digits = str(value).rjust(decimals + 1, "0")
    whole, fraction = digits[:-decimals], digits[-decimals:]
    return f"{whole}.{fraction}" + "0" * rng.choice([0, 0, 1])  # trailing zeros now and then, as Binance sends


def levels(rng: random.Random, is_bid: bool, n: int) -> list[tuple[str, str]]:
    out = []
    for _ in range(n):
        offset = rng.randint(1, 40) if rng.random() > 0.002 else -rng.randint(0, 3)  # now and then a crossing level
        price = MID - offset if is_bid else MID + offset
        size = 0 if rng.random() < 0.3 else rng.randint(1, 5_000)
        out.append((text(price, PRICE_DECIMALS, rng), text(size, SIZE_DECIMALS, rng)))
    return out


def in_ticks(pairs: list[tuple[str, str]]) -> list[tuple[int, int]]:
    return [(parse_scaled(p, PRICE_DECIMALS), parse_scaled(s, SIZE_DECIMALS)) for p, s in pairs]


def state(sync: BinanceDepthSync) -> tuple:
    return (sync.synced, sync.last_final_id, sync.buffered, sync.counters, sync.last_report,
            sync.bids.levels(len(sync.bids)), sync.asks.levels(len(sync.asks)))


@pytest.mark.parametrize("factory", [PyBookSide, None], ids=["python", "default"])
@pytest.mark.parametrize("seed", range(4))
def test_ticks_and_strings_give_the_same_sync(seed: int, factory) -> None:
    rng = random.Random(seed)
    by_text = BinanceDepthSync(PRICE_DECIMALS, SIZE_DECIMALS, side_factory=factory)
    by_ticks = BinanceDepthSync(PRICE_DECIMALS, SIZE_DECIMALS, side_factory=factory)
    final_id = 1000
    for _ in range(600):
        if rng.random() < 0.06:  # a snapshot: current, stale or ahead; now and then partial (fewer than the limit)
            bids, asks = levels(rng, True, rng.randint(0, 30)), levels(rng, False, rng.randint(0, 30))
            last_id = final_id + rng.choice([-50, -3, 0, 2, 40])
            limit = rng.choice([10, 1000])
            actions = [by_text.on_snapshot(DepthSnapshot(last_id, bids, asks, limit)),
                       by_ticks.on_snapshot(DepthSnapshot(last_id, in_ticks(bids), in_ticks(asks), limit,
                                                          in_ticks=True))]
        else:
            first = final_id + 1
            final_id = first + rng.randint(0, 5)
            prev = first - 1 if rng.random() > 0.03 else first - 2  # a broken chain now and then
            if rng.random() < 0.03:
                first, final_id, prev = final_id - 8, final_id - 6, final_id - 9  # a replay
            bids, asks = levels(rng, True, rng.randint(0, 12)), levels(rng, False, rng.randint(0, 12))
            actions = [by_text.feed(DepthEvent(first, final_id, prev, 0, bids, asks)),
                       by_ticks.feed(DepthEvent(first, final_id, prev, 0, in_ticks(bids), in_ticks(asks),
                                                in_ticks=True))]
        assert actions[0] is actions[1]
        assert state(by_text) == state(by_ticks)
    counters = by_text.counters
    assert counters.resyncs > 1 and counters.gaps and counters.crossed and counters.events_applied > 200


def test_a_negative_tick_level_is_malformed_as_a_bad_string_is() -> None:
    sync = BinanceDepthSync(PRICE_DECIMALS, SIZE_DECIMALS, side_factory=PyBookSide)
    sync.feed(DepthEvent(10, 12, 9, 0, [], [], in_ticks=True))
    sync.on_snapshot(DepthSnapshot(11, [(MID - 1, 5)], [(MID + 1, 5)], 1000, in_ticks=True))
    assert sync.synced
    sync.feed(DepthEvent(13, 14, 12, 0, [(MID - 2, -1)], [], in_ticks=True))
    assert not sync.synced and sync.counters.malformed == 1
