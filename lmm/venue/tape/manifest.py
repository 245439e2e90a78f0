"""The tape's manifest (`manifest.json`): what was recorded, on which grids, from when to when.

Rules: written atomically (temporary file, then rename) at start and after every flush that moved the end
time, so a killed recorder leaves a manifest at most one flush old; readers take the row counts and exact
time span from the data files, the manifest only describes. Symbols are keyed by venue; each has its
integer grid (`price_decimals`, `size_decimals`: prices are stored in units of 10**-price_decimals), the
decimal tick and lot as text, and venue details (Lighter `market_id`, Binance `market`: usdm or coinm; a COIN-M
market is sized in contracts, and `contract_usd` is one contract's value in USD).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lmm.venue.tape import schema as s
from lmm.venue.tape.decode import Grid

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class SymbolInfo:
    venue: str  # "binance" or "lighter"
    symbol: str  # BTCUSDT, BTCUSD_PERP, BTC
    price_decimals: int
    size_decimals: int
    market_id: int | None = None  # Lighter market index
    market: str = ""  # Binance: usdm or coinm
    size_unit: str = "base"  # "base" asset, or "contracts" (COIN-M)
    contract_usd: float | None = None  # contracts: the USD value of one contract (BTCUSD_PERP: 100)

    @property
    def grid(self) -> Grid:
        return Grid(self.price_decimals, self.size_decimals)

    @property
    def tick_size(self) -> str:
        return _step(self.price_decimals)

    @property
    def lot_size(self) -> str:
        return _step(self.size_decimals)


def coinm_contract_usd(symbol: str) -> float:
    """One COIN-M contract's value in USD, as Binance specifies it: 100 for BTCUSD, 10 for every other."""
    return 100.0 if symbol.upper().startswith("BTCUSD") else 10.0


def _step(decimals: int) -> str:
    return "1" if decimals == 0 else "0." + "0" * (decimals - 1) + "1"


@dataclass(frozen=True)
class Manifest:
    symbols: tuple[SymbolInfo, ...]
    start_ns: int | None = None
    end_ns: int | None = None
    source: dict[str, Any] = field(default_factory=dict)  # how it was made: record (live/sim) or import
    writer: dict[str, Any] = field(default_factory=dict)  # flush and file settings
    schema_version: int = s.SCHEMA_VERSION

    @property
    def venues(self) -> list[str]:
        return sorted({info.venue for info in self.symbols})

    def symbol(self, venue: str, symbol: str) -> SymbolInfo:
        for info in self.symbols:
            if info.venue == venue and info.symbol == symbol:
                return info
        raise KeyError(f"{venue} {symbol} is not in the manifest")

    def symbols_of(self, venue: str) -> list[SymbolInfo]:
        return [info for info in self.symbols if info.venue == venue]

    def to_json(self) -> dict[str, Any]:
        symbols: dict[str, dict[str, Any]] = {}
        for info in self.symbols:
            entry = {k: v for k, v in asdict(info).items()
                     if k not in ("venue", "symbol") and not (k == "contract_usd" and v is None)}
            entry.update(tick_size=info.tick_size, lot_size=info.lot_size)
            symbols.setdefault(info.venue, {})[info.symbol] = entry
        return {"format": s.FORMAT_NAME, "schema_version": self.schema_version, "venues": self.venues,
                "symbols": symbols, "start_ns": self.start_ns, "end_ns": self.end_ns, "source": self.source,
                "writer": self.writer}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        if data.get("format") != s.FORMAT_NAME:
            raise ValueError(f"not a tape manifest (format {data.get('format')!r})")
        version = int(data["schema_version"])
        if version > s.SCHEMA_VERSION:
            raise ValueError(f"tape schema version {version} is newer than this reader's {s.SCHEMA_VERSION}")
        infos = []
        for venue, entries in data.get("symbols", {}).items():
            for symbol, entry in entries.items():
                infos.append(SymbolInfo(venue, symbol, int(entry["price_decimals"]), int(entry["size_decimals"]),
                                        entry.get("market_id"), entry.get("market", ""),
                                        entry.get("size_unit", "base"), entry.get("contract_usd")))
        return cls(tuple(infos), data.get("start_ns"), data.get("end_ns"), data.get("source", {}),
                   data.get("writer", {}), version)


def write_manifest(directory: Path, manifest: Manifest) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / MANIFEST_NAME
    tmp = directory / f".{MANIFEST_NAME}.tmp"
    tmp.write_text(json.dumps(manifest.to_json(), indent=2) + "\n")
    os.replace(tmp, target)


def read_manifest(directory: Path) -> Manifest:
    path = Path(directory) / MANIFEST_NAME
    try:
        return Manifest.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        raise FileNotFoundError(f"{directory} is not a tape: no {MANIFEST_NAME}") from None
