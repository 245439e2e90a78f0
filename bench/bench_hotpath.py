"""Hot-path benchmark: pure Python vs Cython, in ns per operation. Prints figures; never a test.

Run from the project root after building the extension:
    .venv/bin/python setup_cython.py build_ext --inplace
    .venv/bin/python bench/bench_hotpath.py

Rules:
- the same seeded inputs feed both implementations; every figure is the best of several repetitions
  (time.perf_counter_ns, garbage collector paused while timing), so it reads as "cost without noise";
- the book is a BTC-like Lighter book (1 price and 5 size decimals, 2000 levels per side over about 3 %);
  an update batch is one 50 ms update/order_book message with 2-10 level changes near the touch by default
  (the simulator's BTC feed carries 5.7 on average, median 4, max 20; `--batch-levels 20 40` gives the
  heavy case), 15 % of them deletions, parsed from the venue's decimal strings; the messages are read once before
  each timed run, as a freshly decoded message would be in cache;
- rounds interleave both implementations, so background load and cache pollution hit them alike;
- "combined" is what the daemon does per update batch (lighter_feed._on_book_message, then bot.targets):
  LighterBook.on_message, mid and the 2.5 % band imbalance, VolObiCalculator.on_book, on_timer (one sample)
  and quote from the touch; LighterBook runs its C core (CLighterBookCore) on CBookSide sides and its
  pure-Python core on PyBookSide sides;
- the last line is exactly: combined speedup: <R>x, level update: <N> ns (cython).
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lmm.book.book_side import PyBookSide
from lmm.book.lighter_book import BookEvent, LighterBook
from lmm.model.vol_obi import PyRollingStats, PyVolObiCalculator

try:
    import lmm._fast as _vol_obi_fast
except ImportError:
    sys.exit("bench_hotpath: _vol_obi_fast is not built; run: .venv/bin/python setup_cython.py build_ext --inplace")

SEED = 20261126
MARKET_ID = 1
PRICE_DECIMALS = 1
SIZE_DECIMALS = 5
TICK_SIZE = 0.1
MID_TICK = 970_000  # 97000.0
LEVELS_PER_SIDE = 2000
DENSE_TOUCH_TICKS = 200
BOOK_SPAN_TICKS = 29_000  # about 3 % of the mid
BATCHES = 400
LOOKING_DEPTH = 0.025
STEP_NS = 100_000_000
WINDOW_STEPS = 6000
POSITION = 0.01
MAX_POSITION_USD = 50_000.0


@dataclass(frozen=True)
class Implementation:
    name: str
    side: Callable[[bool], object]
    stats: Callable[[int], object]
    calculator: Callable[..., object]


PYTHON = Implementation("python", PyBookSide, PyRollingStats, PyVolObiCalculator)
CYTHON = Implementation("cython", _vol_obi_fast.CBookSide, _vol_obi_fast.RollingStats, _vol_obi_fast.VolObiCalculator)


# -- inputs -------------------------------------------------------------------------------------------


def price_text(tick: int) -> str:
    return f"{tick // 10}.{tick % 10}"


def size_text(lots: int) -> str:
    return f"{lots // 100_000}.{lots % 100_000:05d}"


def book_ticks(rng: random.Random, is_bid: bool) -> list[int]:
    """Distances from the touch: dense near it, sparse further out."""
    dense = list(range(DENSE_TOUCH_TICKS))
    sparse = rng.sample(range(DENSE_TOUCH_TICKS, BOOK_SPAN_TICKS), LEVELS_PER_SIDE - DENSE_TOUCH_TICKS)
    sign = -1 if is_bid else 1
    return [MID_TICK + sign * (1 + distance) for distance in sorted(dense + sparse)]


def make_snapshot(rng: random.Random, nonce: int) -> dict:
    sides = {}
    for name, is_bid in (("bids", True), ("asks", False)):
        sides[name] = [
            {"price": price_text(tick), "size": size_text(rng.randint(1_000, 500_000_000))}
            for tick in book_ticks(rng, is_bid)
        ]
    order_book = {"code": 0, "offset": 1, "nonce": nonce, "begin_nonce": 0, "last_updated_at": 0, **sides}
    return {"channel": f"order_book:{MARKET_ID}", "type": "subscribed/order_book", "order_book": order_book}


def make_updates(rng: random.Random, first_nonce: int, batch_levels: tuple[int, int]) -> list[dict]:
    messages, nonce = [], first_nonce
    for _ in range(BATCHES):
        sides: dict[str, list[dict]] = {"bids": [], "asks": []}
        for _ in range(rng.randint(*batch_levels)):
            is_bid = rng.random() < 0.5
            distance = min(int(rng.expovariate(1 / 40)), BOOK_SPAN_TICKS - 1)
            tick = MID_TICK - 1 - distance if is_bid else MID_TICK + 1 + distance
            lots = 0 if rng.random() < 0.15 else rng.randint(1_000, 500_000_000)
            sides["bids" if is_bid else "asks"].append({"price": price_text(tick), "size": size_text(lots)})
        begin_nonce, nonce = nonce, nonce + rng.randint(1, 50)
        order_book = {"code": 0, "offset": 2, "nonce": nonce, "begin_nonce": begin_nonce, "last_updated_at": 0}
        order_book.update(sides)
        messages.append({"channel": f"order_book:{MARKET_ID}", "type": "update/order_book", "order_book": order_book})
    return messages


@dataclass(frozen=True)
class Inputs:
    snapshot: dict
    updates: list[dict]
    levels_per_batch: float
    samples: list[float]
    mids: list[float]
    imbalances: list[float]


def make_inputs(batch_levels: tuple[int, int]) -> Inputs:
    rng = random.Random(SEED)
    snapshot = make_snapshot(rng, nonce=1_000)
    updates = make_updates(rng, first_nonce=1_000, batch_levels=batch_levels)
    levels = sum(len(m["order_book"]["bids"]) + len(m["order_book"]["asks"]) for m in updates)
    samples = [rng.gauss(0.0, 1.0) for _ in range(20_000)]
    mids, mid = [], 97_000.0
    for _ in range(20_000):
        mid += rng.choice((-0.2, -0.1, 0.0, 0.0, 0.1, 0.2))
        mids.append(mid)
    imbalances = [rng.gauss(0.0, 5.0) for _ in range(20_000)]
    return Inputs(snapshot, updates, levels / len(updates), samples, mids, imbalances)


# -- timing -------------------------------------------------------------------------------------------

Measure = Callable[[], float]  # one timed repetition -> ns per operation


def timed(run: Callable[[], int], setup: Callable[[], None] | None = None) -> Measure:
    """A repetition: untimed setup, then run() (which returns its operation count) with the GC paused."""

    def measure() -> float:
        if setup is not None:
            setup()
        gc.disable()
        try:
            start = time.perf_counter_ns()
            operations = run()
            elapsed = time.perf_counter_ns() - start
        finally:
            gc.enable()
        return elapsed / operations

    return measure


def touch(messages: list[dict]) -> int:
    """Read every level string, as if the messages had just been decoded (they would be in cache)."""
    total = 0
    for message in messages:
        order_book = message["order_book"]
        for level in order_book["bids"]:
            total += len(level["price"]) + len(level["size"])
        for level in order_book["asks"]:
            total += len(level["price"]) + len(level["size"])
    return total


def new_book(impl: Implementation) -> LighterBook:
    return LighterBook(MARKET_ID, PRICE_DECIMALS, SIZE_DECIMALS, side_factory=impl.side)


def new_calculator(impl: Implementation, inputs: Inputs):
    """A calculator warmed up on a full window, so quote() runs its whole path."""
    calculator = impl.calculator(tick_size=TICK_SIZE, step_ns=STEP_NS, window_steps=WINDOW_STEPS, warmup_seconds=0.0)
    now = STEP_NS
    for mid, imbalance in zip(inputs.mids[:WINDOW_STEPS], inputs.imbalances[:WINDOW_STEPS], strict=True):
        calculator.on_book(now, mid, imbalance)
        calculator.on_timer(now)
        now += STEP_NS
    return calculator


def check_book_inputs(impl: Implementation, inputs: Inputs) -> None:
    book = new_book(impl)
    assert book.on_message(inputs.snapshot) is BookEvent.SNAPSHOT, book.invalid_reason
    for message in inputs.updates:
        assert book.on_message(message) is BookEvent.UPDATED, book.invalid_reason


# -- cases --------------------------------------------------------------------------------------------


def case_rolling_push(impl: Implementation, inputs: Inputs) -> Measure:
    stats = impl.stats(WINDOW_STEPS)
    for sample in inputs.samples[:WINDOW_STEPS]:
        stats.push(sample)
    samples = inputs.samples

    def run() -> int:
        push = stats.push
        for sample in samples:
            push(sample)
        return len(samples)

    return timed(run)


def case_update_batch(impl: Implementation, inputs: Inputs) -> Measure:
    """ns per update/order_book message through LighterBook.on_message (nonce check, both sides, cross check)."""
    book = new_book(impl)
    updates = inputs.updates

    def run() -> int:
        on_message = book.on_message
        for message in updates:
            on_message(message)
        return len(updates)

    def setup() -> None:
        book.on_message(inputs.snapshot)
        touch(updates)

    return timed(run, setup)


def case_side_levels(impl: Implementation, inputs: Inputs) -> Measure:
    """ns per level through the sides' bulk apply_levels alone (parse + store, no book glue)."""
    bids, asks = impl.side(True), impl.side(False)
    level_lists = [(m["order_book"]["bids"], m["order_book"]["asks"]) for m in inputs.updates]
    levels = sum(len(bid_levels) + len(ask_levels) for bid_levels, ask_levels in level_lists)

    def setup() -> None:
        bids.replace_levels(inputs.snapshot["order_book"]["bids"], PRICE_DECIMALS, SIZE_DECIMALS)
        asks.replace_levels(inputs.snapshot["order_book"]["asks"], PRICE_DECIMALS, SIZE_DECIMALS)
        touch(inputs.updates)

    def run() -> int:
        for bid_levels, ask_levels in level_lists:
            bids.apply_levels(bid_levels, PRICE_DECIMALS, SIZE_DECIMALS)
            asks.apply_levels(ask_levels, PRICE_DECIMALS, SIZE_DECIMALS)
        return levels

    return timed(run, setup)


def case_band(impl: Implementation, inputs: Inputs) -> Measure:
    book = new_book(impl)
    book.on_message(inputs.snapshot)
    for message in inputs.updates:
        book.on_message(message)
    calls = 500

    def run() -> int:
        imbalance = book.imbalance
        for _ in range(calls):
            imbalance(LOOKING_DEPTH)
        return calls

    return timed(run)


def case_sample_quote(impl: Implementation, inputs: Inputs, quoted: list[float]) -> Measure:
    """ns per on_book + on_timer (one sample) + quote; appends the share of steps that produced a quote."""
    calculator = new_calculator(impl, inputs)
    steps = list(zip(inputs.mids[WINDOW_STEPS:], inputs.imbalances[WINDOW_STEPS:], strict=True))[:4_000]
    clock = [(WINDOW_STEPS + 1) * STEP_NS]

    def run() -> int:
        now = clock[0]
        on_book, on_timer, quote = calculator.on_book, calculator.on_timer, calculator.quote
        produced = 0
        for mid, imbalance in steps:
            on_book(now, mid, imbalance)
            on_timer(now)
            if quote(now, POSITION, MAX_POSITION_USD, 0, 0) is not None:
                produced += 1
            now += STEP_NS
        clock[0] = now
        quoted.append(produced / len(steps))
        return len(steps)

    return timed(run)


def case_combined(impl: Implementation, inputs: Inputs, quoted: list[float]) -> Measure:
    """ns per update batch + sample + quote, as the daemon runs them; appends the share quoted."""
    book = new_book(impl)
    calculator = new_calculator(impl, inputs)
    updates = inputs.updates
    clock = [(WINDOW_STEPS + 1) * STEP_NS]

    def run() -> int:
        now = clock[0]
        on_message, on_book, on_timer = book.on_message, calculator.on_book, calculator.on_timer
        quote = calculator.quote
        produced = 0
        for message in updates:
            on_message(message)
            on_book(now, book.mid, book.imbalance(LOOKING_DEPTH))
            on_timer(now)
            if quote(now, POSITION, MAX_POSITION_USD, book.best_bid_tick, book.best_ask_tick) is not None:
                produced += 1
            now += STEP_NS
        clock[0] = now
        quoted.append(produced / len(updates))
        return len(updates)

    def setup() -> None:
        book.on_message(inputs.snapshot)
        touch(updates)

    return timed(run, setup)


# -- report -------------------------------------------------------------------------------------------

ROUNDS = 40


def main() -> None:
    parser = argparse.ArgumentParser(description="Hot-path benchmark: pure Python vs Cython.")
    parser.add_argument("--batch-levels", nargs=2, type=int, default=(2, 10), metavar=("MIN", "MAX"),
                        help="level changes per update batch, uniform in [MIN, MAX] (default 2 10)")
    args = parser.parse_args()
    started = time.perf_counter()
    inputs = make_inputs(tuple(args.batch_levels))
    for impl in (PYTHON, CYTHON):
        check_book_inputs(impl, inputs)
        print(f"{impl.name}: LighterBook core {type(new_book(impl).core).__name__}")
    batch_label = f"update batch ({inputs.levels_per_batch:.1f} levels)"
    labels = [
        "RollingStats.push",
        batch_label,
        "  side.apply_levels, per level",
        f"OBI band imbalance ({LEVELS_PER_SIDE}/side)",
        "on_book + on_timer + quote",
        "combined: batch + sample + quote",
    ]
    quoted: dict[str, dict[str, list[float]]] = {}
    measures: dict[str, list[Measure]] = {}
    for impl in (PYTHON, CYTHON):
        quoted[impl.name] = {"sample": [], "combined": []}
        measures[impl.name] = [
            case_rolling_push(impl, inputs),
            case_update_batch(impl, inputs),
            case_side_levels(impl, inputs),
            case_band(impl, inputs),
            case_sample_quote(impl, inputs, quoted[impl.name]["sample"]),
            case_combined(impl, inputs, quoted[impl.name]["combined"]),
        ]
    # Rounds interleave both implementations so background load hits them alike; keep each case's best.
    best = {name: [float("inf")] * len(labels) for name in measures}
    for _ in range(ROUNDS):
        for name, cases in measures.items():
            for index, measure in enumerate(cases):
                best[name][index] = min(best[name][index], measure())

    print(f"{'path (ns per operation, best of ' + str(ROUNDS) + ')':<40}{'python':>12}{'cython':>12}{'speedup':>10}")
    for index, label in enumerate(labels):
        python_ns, cython_ns = best["python"][index], best["cython"][index]
        print(f"{label:<40}{python_ns:>12,.0f}{cython_ns:>12,.0f}{python_ns / cython_ns:>9.1f}x")
    per_level = best["cython"][1] / inputs.levels_per_batch
    print(f"{'  update batch, per level':<40}{best['python'][1] / inputs.levels_per_batch:>12,.0f}{per_level:>12,.0f}")
    for name, shares in quoted.items():
        sample_share, combined_share = min(shares["sample"]), min(shares["combined"])
        print(f"{name}: quote produced on {sample_share:.0%} of sample steps, {combined_share:.0%} of combined steps")
    print(f"wall time {time.perf_counter() - started:.1f} s")
    combined_speedup = best["python"][5] / best["cython"][5]
    print(f"combined speedup: {combined_speedup:.1f}x, level update: {per_level:.0f} ns (cython)")


if __name__ == "__main__":
    main()
