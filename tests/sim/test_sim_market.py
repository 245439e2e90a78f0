# Tests of the synthetic market, driven directly in simulated time (no sockets, no wall clock):
# reproducibility, BTC-like volatility, the information carried by the Binance OBI about the next
# second's Lighter mid, fills of a resting two-sided quote near the touch, freezing, and modest load.
# Rules: fixed seeds; statistics computed exactly as the bot would (strategy-model.md §4.4, §5.3).
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import pytest

from sim.binance_book import BinanceEvent, DepthDiff
from sim.engine import Engine
from sim.engine_types import CreateOrderTx, ModifyOrderTx, Tier, TimeInForce, TxMeta
from sim.market import SyntheticMarket
from sim.market_params import BTC_INSTRUMENT, SECONDS_PER_YEAR, MarketParams
from sim.markets import BTC, MICRO_PER_USDC

T0 = 1_800_000_000 * 10**9
STEP_NS = 20_000_000  # how often the test calls step(): the runner's ~10 ms, coarsened for speed
SAMPLE_NS = 100_000_000  # the bot's sampling step
BTC_ONLY = MarketParams(instruments=(BTC_INSTRUMENT,))
LOOKING_DEPTH = 0.025
WINDOW = 6000
MIN_SAMPLES = 150


@dataclass(frozen=True)
class TenMinuteRun:
    obi: np.ndarray  # Binance band imbalance x = S_bid - S_ask (lots), every 100 ms
    lighter_mid: np.ndarray  # Lighter mid (ticks), every 100 ms
    fair: np.ndarray  # fair price, every 100 ms
    transactions: int  # the market's own transactions
    rejected: int
    rate_limited: int
    diff_levels: float  # mean levels per @depth@100ms event


@cache
def ten_minute_run(seed: int) -> TenMinuteRun:
    engine = Engine()
    market = SyntheticMarket(engine, BTC_ONLY, seed=seed, start_ns=T0)
    book = market.binance_books["BTCUSDT"]
    level_counts: list[int] = []

    def count_levels(event: BinanceEvent) -> None:
        if isinstance(event, DepthDiff) and event.cadence_ms == 100:
            level_counts.append(len(event.bids) + len(event.asks))

    book.add_listener(count_levels)
    obi, mids, fair = [], [], []
    now = T0
    for _ in range(6000):
        for _ in range(SAMPLE_NS // STEP_NS):
            now += STEP_NS
            market.step(now)
        band = book.band_sums(LOOKING_DEPTH)
        assert band is not None
        obi.append(band.sum_bid - band.sum_ask)
        best_bid, best_ask = engine.best_bid_ask(BTC.market_id)
        assert best_bid is not None and best_ask is not None and best_bid < best_ask
        mids.append((best_bid + best_ask) / 2)
        fair.append(market.fair_price("BTCUSDT"))
    stats = market.stats
    return TenMinuteRun(np.array(obi, dtype=float), np.array(mids), np.array(fair),
                        stats.accepted + stats.rejected + stats.rate_limited, stats.rejected, stats.rate_limited,
                        float(np.mean(level_counts)))


def rolling_z(values: np.ndarray) -> np.ndarray:
    """z of each sample within the last WINDOW samples including itself (population std); NaN in warm-up."""
    z = np.full(len(values), np.nan)
    for i in range(MIN_SAMPLES - 1, len(values)):
        window = values[max(0, i - WINDOW + 1): i + 1]
        std = window.std()
        if std > 1e-10:
            z[i] = (values[i] - window.mean()) / std
    return z


def obi_t_statistic(run: TenMinuteRun) -> tuple[float, float, int]:
    """Correlation of the OBI z-score at each whole second with the Lighter mid's log return over the next
    second (non-overlapping samples), and its t-statistic r·√((n−2)/(1−r²))."""
    z = rolling_z(run.obi)
    seconds = np.arange(MIN_SAMPLES, len(z) - 10, 10)
    returns = np.log(run.lighter_mid[seconds + 10] / run.lighter_mid[seconds])
    r = float(np.corrcoef(z[seconds], returns)[0, 1])
    n = len(seconds)
    return r, r * math.sqrt((n - 2) / (1 - r * r)), n


# ---- information ----------------------------------------------------------------------------------------


def test_binance_obi_predicts_the_next_second_of_the_lighter_mid() -> None:
    r, t, n = obi_t_statistic(ten_minute_run(1))
    assert n > 550
    assert r > 0 and t > 3, (r, t)


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_obi_information_holds_across_seeds(seed: int) -> None:
    r, t, _ = obi_t_statistic(ten_minute_run(seed))
    assert r > 0 and t > 3, (seed, r, t)


def test_fair_price_has_btc_like_volatility() -> None:
    run = ten_minute_run(1)
    steps = np.diff(run.fair)
    assert 1.0 < steps.std() < 6.0  # "a few $ per 100 ms at $100k"
    one_second = np.diff(np.log(run.fair[::10]))
    annualised = one_second.std() * math.sqrt(SECONDS_PER_YEAR)
    assert 0.35 < annualised < 0.85, annualised  # target 55 %
    lighter_steps = np.diff(run.lighter_mid[::10]) * 0.1  # Lighter BTC tick is $0.1
    assert 0.5 * np.diff(run.fair[::10]).std() < lighter_steps.std() < 2.0 * np.diff(run.fair[::10]).std()


def test_lighter_follows_the_fair_price_with_a_lag() -> None:
    run = ten_minute_run(1)
    mid_usd = run.lighter_mid * 0.1
    lag_steps = BTC_ONLY.lighter_lag_ms // 100
    lagged_error = np.abs(mid_usd[lag_steps:] - run.fair[:-lag_steps]).mean()
    current_error = np.abs(mid_usd - run.fair).mean()
    assert lagged_error < current_error


def test_market_load_is_modest_and_never_rejected() -> None:
    run = ten_minute_run(1)
    per_second = run.transactions / 600
    assert 2 < per_second < 30, per_second  # a few tens per second at most for one market
    assert run.rejected == 0 and run.rate_limited == 0
    assert run.diff_levels < 400  # levels per @depth@100ms event: realistic, and cheap to encode


# ---- fills ----------------------------------------------------------------------------------------------


def test_a_two_sided_quote_near_the_touch_gets_filled_and_sometimes_picked_off() -> None:
    engine = Engine()
    market = SyntheticMarket(engine, BTC_ONLY, seed=11, start_ns=T0)
    bot = engine.create_account(100_000 * MICRO_PER_USDC, Tier.PREMIUM)
    engine.register_api_key(bot, 5, "ab" * 40)
    size = 1000  # 0.01 BTC, about $1000
    orders: dict[bool, int | None] = {False: None, True: None}  # is_ask -> order index
    mids: dict[int, float] = {}
    now = T0

    def send(tx: CreateOrderTx | ModifyOrderTx) -> int | None:
        meta = TxMeta(bot, 5, engine.next_nonce(bot, 5))
        result = engine.create_order(now, meta, tx) if isinstance(tx, CreateOrderTx) else engine.modify_order(
            now, meta, tx)
        return result.order_index if result.accepted else None

    for step in range(180 * 50):  # three simulated minutes in 20 ms steps
        now += STEP_NS
        market.step(now)
        best_bid, best_ask = engine.best_bid_ask(BTC.market_id)
        assert best_bid is not None and best_ask is not None
        mids[now // 1_000_000] = (best_bid + best_ask) / 2
        if step % 50:
            continue  # the bot requotes once a second: at the touch, one tick inside when there is room
        live = {o.order_index: o for o in engine.orders(bot, BTC.market_id)}
        for is_ask in (False, True):
            target = (best_ask - 1 if best_ask - best_bid > 1 else best_ask) if is_ask else (
                best_bid + 1 if best_ask - best_bid > 1 else best_bid)
            index = orders[is_ask]
            if index in live and live[index].price != target:
                orders[is_ask] = send(ModifyOrderTx(BTC.market_id, index, live[index].remaining_base_amount, target))
            elif index not in live:
                orders[is_ask] = send(CreateOrderTx(BTC.market_id, 0, size, target, is_ask,
                                                    time_in_force=TimeInForce.POST_ONLY,
                                                    order_expiry_ms=now // 1_000_000 + 3_600_000))
    trades = engine.account_trades(bot, n=1000)
    buys = [t for t in trades if t.bid_account_id == bot]
    sells = [t for t in trades if t.ask_account_id == bot]
    assert len(buys) >= 20 and len(sells) >= 20, (len(buys), len(sells))  # seed 11: 86 and 87

    def adverse(trade_price: int, timestamp_ms: int, bought: bool) -> bool:
        later = [mid for t, mid in mids.items() if timestamp_ms + 1000 <= t <= timestamp_ms + 1100]
        return bool(later) and (later[0] < trade_price if bought else later[0] > trade_price)

    picked_off = sum(adverse(t.price, t.timestamp_ms, True) for t in buys) + sum(
        adverse(t.price, t.timestamp_ms, False) for t in sells)
    assert picked_off >= 0.1 * (len(buys) + len(sells))  # seed 11: 91 of 173 fills lost within a second


# ---- determinism and control ----------------------------------------------------------------------------


def _short_run(seed: int, with_engine: bool) -> tuple[float, tuple, tuple]:
    engine = Engine() if with_engine else None
    market = SyntheticMarket(engine, MarketParams(), seed=seed, start_ns=T0)
    for k in range(1, 1501):  # 30 s
        market.step(T0 + k * STEP_NS)
    books = tuple(book.snapshot() for book in market.binance_books.values())
    lighter = tuple(engine.book_levels(m) for m in (0, 1)) if engine else ()
    return market.fair_price("BTCUSDT"), books, lighter


def test_same_seed_same_market_and_different_seed_different_market() -> None:
    assert _short_run(5, with_engine=True) == _short_run(5, with_engine=True)
    assert _short_run(5, with_engine=False)[:2] == _short_run(5, with_engine=True)[:2]  # Lighter never feeds back
    assert _short_run(5, with_engine=False)[0] != _short_run(6, with_engine=False)[0]


def test_frozen_market_changes_nothing_until_resumed() -> None:
    engine = Engine()
    market = SyntheticMarket(engine, MarketParams(), seed=2, start_ns=T0)
    now = T0
    for _ in range(500):
        now += STEP_NS
        market.step(now)
    market.running = False
    now += STEP_NS
    market.step(now)  # flushes what was pending
    frozen = ({s: b.snapshot() for s, b in market.binance_books.items()},
              [engine.book_levels(m) for m in (0, 1)], market.stats.accepted, market.fair_price("ETHUSDT"))
    events: list[BinanceEvent] = []
    for book in market.binance_books.values():
        book.add_listener(events.append)
    for _ in range(1000):
        now += STEP_NS
        market.step(now)
    after = ({s: b.snapshot() for s, b in market.binance_books.items()},
             [engine.book_levels(m) for m in (0, 1)], market.stats.accepted, market.fair_price("ETHUSDT"))
    assert [(s, b.last_update_id, b.bids, b.asks) for s, b in frozen[0].items()] == [
        (s, b.last_update_id, b.bids, b.asks) for s, b in after[0].items()]
    assert frozen[1:] == after[1:]
    assert events == []
    market.running = True
    for _ in range(100):
        now += STEP_NS
        market.step(now)
    assert market.stats.accepted > frozen[2]
    assert market.fair_price("ETHUSDT") != frozen[3]
    assert events


def test_market_accounts_are_funded_beyond_any_margin_need() -> None:
    engine = Engine()
    market = SyntheticMarket(engine, MarketParams(), seed=1, start_ns=T0)
    for k in range(1, 501):
        market.step(T0 + k * STEP_NS)
    for account_index in (market.accounts.liquidity, market.accounts.taker):
        assert account_index is not None
        account = engine.account(account_index)
        assert account.available_balance > 100 * account.initial_margin_requirement


@pytest.mark.parametrize("overrides", [
    {"micro_step_ms": 30},
    {"pressure_variance_share": 1.0},
    {"lighter_requote_interval_ms": 5},
    {"binance_book_extent": 0.0},
    {"instruments": ()},
])
def test_invalid_parameters_are_rejected(overrides: dict) -> None:
    with pytest.raises(ValueError):
        MarketParams(**overrides)


def test_engine_without_the_instruments_market_is_rejected() -> None:
    from sim.market_params import InstrumentParams

    params = MarketParams(instruments=(InstrumentParams(
        lighter_market_id=77, binance_symbol="SOLUSDT", initial_price=150.0, annual_volatility=0.8,
        binance_price_decimals=2),))
    with pytest.raises(ValueError, match="no market 77"):
        SyntheticMarket(Engine(), params, seed=1, start_ns=T0)
