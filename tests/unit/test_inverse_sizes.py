"""An inverse (COIN-M) tape's sizes in contracts as base lots at their own price (``lmm.venue.local.inverse``)."""
from __future__ import annotations

import random
from fractions import Fraction

import pytest

from lmm.venue.local.inverse import BASE_DECIMALS, ContractsToBase


def test_one_btcusd_contract_is_100_usd_of_bitcoin_at_its_price():
    to_base = ContractsToBase(100.0, price_decimals=1, contract_decimals=0)
    # 100 USD at 62,000.0 = 0.00161290322... BTC = 161,290.32 satoshi
    assert to_base(620_000, 1) == 161_290
    assert to_base(620_000, 1001) == 161_451_613  # 1001 x 100 / 62000 = 1.614516129 BTC
    assert BASE_DECIMALS == 8


def test_sizes_round_half_up_and_a_level_never_rounds_to_nothing():
    to_base = ContractsToBase(1.0, price_decimals=0, contract_decimals=0, base_decimals=0)
    assert to_base(2, 1) == 1  # 0.5 rounds up
    assert to_base(3, 1) == 1  # 0.33 would be 0: a level that holds size keeps one lot
    assert to_base(4, 10) == 3  # 2.5 rounds up
    assert to_base(5, 12) == 2  # 2.4 rounds down
    assert to_base(5, 0) == 0 and to_base(0, 5) == 0


def test_every_grid_gives_the_exact_rational_value_rounded():
    rng = random.Random(7)
    for _ in range(2000):
        usd = rng.choice((10.0, 100.0, 2.5, 0.1))
        pd, cd, bd = rng.randint(0, 4), rng.randint(0, 3), rng.randint(0, 8)
        ticks, lots = rng.randint(1, 10**8), rng.randint(1, 10**6)
        exact = Fraction(lots, 10**cd) * Fraction(str(usd)) / Fraction(ticks, 10**pd) * 10**bd
        expected = max(1, int(exact + Fraction(1, 2)))  # half up
        assert ContractsToBase(usd, pd, cd, bd)(ticks, lots) == expected


def test_a_contract_value_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        ContractsToBase(0, 1, 0)


def test_binances_contract_values_and_the_manifest_keeps_them():
    from lmm.venue.tape.manifest import Manifest, SymbolInfo, coinm_contract_usd

    assert coinm_contract_usd("BTCUSD_PERP") == 100.0 and coinm_contract_usd("btcusd_240927") == 100.0
    assert coinm_contract_usd("ETHUSD_PERP") == 10.0
    info = SymbolInfo("binance", "ETHUSD_PERP", 2, 0, market="coinm", size_unit="contracts", contract_usd=10.0)
    linear = SymbolInfo("binance", "ETHUSDT", 2, 3, market="usdm")
    data = Manifest((info, linear)).to_json()
    assert "contract_usd" not in data["symbols"]["binance"]["ETHUSDT"]
    assert Manifest.from_json(data).symbols == (info, linear)


def test_a_market_sized_in_an_unknown_unit_is_refused_with_a_clear_error():
    from types import SimpleNamespace

    from lmm.daemon.backtest import BacktestError, tape_market
    from lmm.venue.tape.manifest import Manifest, SymbolInfo

    odd = SimpleNamespace(directory="tapes/odd", manifest=Manifest(
        (SymbolInfo("binance", "XUSD_PERP", 2, 0, market="coinm", size_unit="shares"),)))
    with pytest.raises(BacktestError, match="neither the base asset nor contracts"):
        tape_market(odd, None)
    inverse = SimpleNamespace(directory="tapes/old", manifest=Manifest(
        (SymbolInfo("binance", "ETHUSD_PERP", 2, 0, market="coinm", size_unit="contracts"),)))
    info = tape_market(inverse, None)  # imported before the manifest kept the value: Binance's
    assert (info.contract_usd, info.tape_decimals, info.size_decimals) == (10.0, 0, BASE_DECIMALS)
