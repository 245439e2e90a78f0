"""Level texts of the simulator's frames: `MarketSpec.levels_json` (remembered texts) gives exactly the texts of
`format_price`/`format_size`, and its memory stays bounded."""
from __future__ import annotations

import random

import sim.markets as markets
from sim.markets import MarketSpec


def test_levels_json_is_the_formatted_levels() -> None:
    rng = random.Random(3)
    for price_decimals, size_decimals in ((2, 3), (1, 5), (0, 0), (4, 4)):
        spec = MarketSpec(market_id=1, symbol="X", price_decimals=price_decimals, size_decimals=size_decimals,
                          min_base_amount=1, min_quote_amount=0)
        for _ in range(50):
            levels = [(rng.choice([0, 1, 9, 10, rng.randint(0, 10**9)]), rng.randint(0, 10**7)) for _ in range(30)]
            assert spec.levels_json(levels) == [{"price": spec.format_price(p), "size": spec.format_size(s)}
                                                for p, s in levels]


def test_the_remembered_texts_are_bounded(monkeypatch) -> None:
    monkeypatch.setattr(markets, "TEXTS_LIMIT", 10)
    spec = MarketSpec(market_id=1, symbol="X", price_decimals=7, size_decimals=7, min_base_amount=1,
                      min_quote_amount=0)
    for value in range(100):
        assert spec.levels_json([(value, value)]) == [{"price": spec.format_price(value),
                                                       "size": spec.format_size(value)}]
        assert len(markets._TEXTS[7]) <= 10
