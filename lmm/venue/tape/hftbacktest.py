"""Import hftbacktest's Binance futures collector files (`<local ns> <raw JSON>` lines, gzip) as a tape.

Rules:
- A line whose JSON has `lastUpdateId` is a REST depth snapshot; combined-stream lines are routed by their
  stream name: diff depth (`@depth`, `@depth@100ms`, `@depth@0ms`), `@trade`/`@aggTrade`, `@bookTicker`;
  anything else (partial depth, other streams, unparseable lines) is kept raw under `other`.
- The JSON is stored exactly as it appears on the line; the typed columns are decoded from it by the
  tape writer, so the import and the recorder share one decoder.
- USD-M or COIN-M is detected from the symbol (COIN-M symbols carry a `_`, e.g. BTCUSD_PERP; sizes are
  contracts, each worth `contract_usd` USD: Binance's 100 for BTCUSD, 10 for every other COIN-M symbol) unless
  given. The integer grid is the coarsest one that holds every price and size in the
  file exactly (trailing zeros ignored: "97000.10" needs one decimal), found in a first pass, unless given.
  The snapshot's requested limit is not in the file: hftbacktest's collector asks for 1000 levels.
"""
from __future__ import annotations

import gzip
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from lmm.venue.tape import schema as s
from lmm.venue.tape.manifest import SymbolInfo, coinm_contract_usd
from lmm.venue.tape.writer import TapeWriter, WriterSettings

FORMAT = "hftbacktest-binance"
COLLECTOR_SNAPSHOT_LIMIT = 1000
_decode = msgspec.json.Decoder().decode
_STREAM_PREFIX = '{"stream":"'


@dataclass(frozen=True)
class ImportOptions:
    symbol: str | None = None  # the file's symbol when it holds several (default: the only one)
    market: str | None = None  # usdm or coinm (default: from the symbol)
    price_decimals: int | None = None
    size_decimals: int | None = None
    contract_usd: float | None = None  # COIN-M: one contract's USD value (default: coinm_contract_usd)
    snapshot_limit: int = COLLECTOR_SNAPSHOT_LIMIT
    flush_rows: int = 20_000


@dataclass(frozen=True)
class ImportReport:
    lines: int
    rows: int
    bad_lines: int
    by_kind: dict[str, int]
    symbol: SymbolInfo


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="\n")
    return open(path, encoding="utf-8", newline="\n")


def _lines(path: Path) -> Iterator[tuple[int, str] | None]:
    """(local ns, JSON text) per line; None for a line without a usable timestamp."""
    with _open_text(path) as handle:
        for line in handle:
            line = line.rstrip("\r\n")
            if not line:
                continue
            stamp, _, text = line.partition(" ")
            if not stamp.isdigit() or not text:
                yield None
                continue
            yield int(stamp), text


def stream_kind(name: str) -> str:
    """The tape kind of a Binance stream name (`ethusdt@depth@0ms` -> binance_depth)."""
    _, _, rest = name.partition("@")
    if rest in ("depth", "depth@100ms", "depth@500ms", "depth@0ms"):
        return s.BINANCE_DEPTH
    if rest in ("trade", "aggTrade"):
        return s.BINANCE_TRADE
    if rest == "bookTicker":
        return s.BINANCE_BOOK_TICKER
    return s.OTHER


def classify(text: str) -> tuple[str, str | None]:
    """(kind, upper-case symbol or None) of one line's JSON, from its prefix where possible."""
    if text.startswith(_STREAM_PREFIX):
        end = text.find('"', len(_STREAM_PREFIX))
        name = text[len(_STREAM_PREFIX):end]
        return stream_kind(name), name.partition("@")[0].upper()
    if '"lastUpdateId"' in text[:40]:
        return s.BINANCE_SNAPSHOT, None
    return s.OTHER, None


def _decimals(text: Any) -> int:
    if type(text) is not str:
        raise ValueError(f"not a decimal string: {text!r}")
    _, _, fraction = text.partition(".")
    return len(fraction.rstrip("0"))


def _levels(levels: Any) -> Iterator[tuple[Any, Any]]:
    for level in levels or ():
        yield level[0], level[1]


def infer_grid(path: Path) -> tuple[int, int, set[str]]:
    """(price decimals, size decimals, symbols seen) over every typed line of the file."""
    price_decimals = size_decimals = 0
    symbols: set[str] = set()
    for entry in _lines(path):
        if entry is None:
            continue
        kind, symbol = classify(entry[1])
        if kind == s.OTHER:
            continue
        if symbol:
            symbols.add(symbol)
        try:
            obj = _decode(entry[1])
        except msgspec.DecodeError:
            continue
        data = obj.get("data", obj) if isinstance(obj, dict) else None
        if not isinstance(data, dict):
            continue
        pairs: list[tuple[Any, Any]] = []
        if kind == s.BINANCE_DEPTH:
            pairs = [*_levels(data.get("b")), *_levels(data.get("a"))]
        elif kind == s.BINANCE_SNAPSHOT:
            pairs = [*_levels(data.get("bids")), *_levels(data.get("asks"))]
            if isinstance(data.get("symbol"), str):
                symbols.add(data["symbol"].upper())
        elif kind == s.BINANCE_TRADE:
            pairs = [(data.get("p"), data.get("q"))]
        elif kind == s.BINANCE_BOOK_TICKER:
            pairs = [(data.get("b"), data.get("B")), (data.get("a"), data.get("A"))]
        for price, size in pairs:
            try:
                price_decimals = max(price_decimals, _decimals(price))
                size_decimals = max(size_decimals, _decimals(size))
            except ValueError:
                continue
    return price_decimals, size_decimals, symbols


def import_hftbacktest(path: str | Path, out_dir: str | Path, options: ImportOptions | None = None,
                       settings: WriterSettings | None = None) -> ImportReport:
    path = Path(path)
    options = options or ImportOptions()
    price_decimals, size_decimals = options.price_decimals, options.size_decimals
    symbol = options.symbol.upper() if options.symbol else None
    if price_decimals is None or size_decimals is None or symbol is None:
        inferred_price, inferred_size, symbols = infer_grid(path)
        price_decimals = inferred_price if price_decimals is None else price_decimals
        size_decimals = inferred_size if size_decimals is None else size_decimals
        if symbol is None:
            if len(symbols) != 1:
                raise ValueError(f"{path}: expected one symbol, found {sorted(symbols) or 'none'}; pass --symbol")
            symbol = symbols.pop()
    market = options.market or ("coinm" if "_" in symbol else "usdm")
    if market not in ("usdm", "coinm"):
        raise ValueError(f"market must be usdm or coinm, got {market!r}")
    if options.contract_usd is not None and (market != "coinm" or not 0 < options.contract_usd < math.inf):
        raise ValueError("a contract value is given only for a COIN-M market, and is a positive number")
    contract_usd = None if market != "coinm" else options.contract_usd or coinm_contract_usd(symbol)
    info = SymbolInfo("binance", symbol, price_decimals, size_decimals, market=market,
                      size_unit="contracts" if market == "coinm" else "base", contract_usd=contract_usd)
    source = {"kind": "import", "format": FORMAT, "file": path.name, "market": market,
              "snapshot_limit_assumed": options.snapshot_limit}
    lines = rows = bad = 0
    by_kind: dict[str, int] = {}
    with TapeWriter(out_dir, [info], source, settings, background=False) as writer:
        buffers = {kind: writer.stream(kind, symbol) for kind in
                   (s.BINANCE_DEPTH, s.BINANCE_SNAPSHOT, s.BINANCE_TRADE, s.BINANCE_BOOK_TICKER)}
        snapshot_extra = (None, options.snapshot_limit)
        for entry in _lines(path):
            lines += 1
            if entry is None:
                bad += 1
                continue
            local_ns, text = entry
            kind, line_symbol = classify(text)
            if kind == s.OTHER or (line_symbol is not None and line_symbol != symbol):
                writer.other("binance", "import", text, local_ns, "not a typed stream of " + symbol)
                kind = s.OTHER
            else:
                buffers[kind].append(local_ns, text, snapshot_extra if kind == s.BINANCE_SNAPSHOT else None)
            by_kind[kind] = by_kind.get(kind, 0) + 1
            rows += 1
            if rows % options.flush_rows == 0:
                writer.flush()
    return ImportReport(lines, rows, bad, by_kind, info)
