"""`python tape.py import|info|compact`: the tape command line (entry point: tape.py)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lmm.venue.tape import files
from lmm.venue.tape.manifest import MANIFEST_NAME
from lmm.venue.tape.writer import WriterSettings, compact_stream


def _import(args: argparse.Namespace) -> int:
    from lmm.venue.tape.hftbacktest import FORMAT, ImportOptions, import_hftbacktest

    if args.format != FORMAT:
        print(f"unknown format {args.format!r}; known: {FORMAT}", file=sys.stderr)
        return 2
    options = ImportOptions(symbol=args.symbol, market=args.market, price_decimals=args.price_decimals,
                            size_decimals=args.size_decimals, contract_usd=args.contract_usd,
                            snapshot_limit=args.snapshot_limit)
    try:
        report = import_hftbacktest(args.file, args.out, options)
    except (ValueError, FileExistsError, FileNotFoundError) as exc:
        print(f"import failed: {exc}", file=sys.stderr)
        return 2
    info = report.symbol
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(report.by_kind.items()))
    print(f"imported {report.lines} lines ({report.bad_lines} unusable) into {args.out}: {kinds}")
    value = f", {info.contract_usd:g} USD each" if info.contract_usd else ""
    print(f"{info.symbol} ({info.market}): tick {info.tick_size}, lot {info.lot_size} ({info.size_unit}{value})")
    return 0


def _info(args: argparse.Namespace) -> int:
    from lmm.venue.tape.integrity import check_tape
    from lmm.venue.tape.reader import open_tape

    try:
        tape = open_tape(args.dir)
    except (FileNotFoundError, ValueError) as exc:
        print(f"info: {exc}", file=sys.stderr)
        return 2
    print("manifest: " + json.dumps(tape.manifest.to_json(), indent=2))
    for line in check_tape(tape).lines(verbose=args.verbose):
        print(line)
    return 0


def _compact(args: argparse.Namespace) -> int:
    """Finish a tape left by a killed recorder: temporaries removed, leftovers of merges dropped, hours merged."""
    root = Path(args.dir)
    if not (root / MANIFEST_NAME).exists():
        print(f"compact: {root} is not a tape", file=sys.stderr)
        return 2
    settings = WriterSettings()
    for entry in sorted(root.iterdir()):
        parsed = files.parse_stream_dir_name(entry.name) if entry.is_dir() else None
        if parsed is None:
            continue
        removed = files.remove_temporaries(entry)
        merged = compact_stream(entry, parsed[0], parsed[1], settings, final=True)
        print(f"{entry.name}: {removed} temporary files removed, {merged} files merged, "
              f"{len(files.live_files(entry))} left")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tape.py", description="Market tapes: import, inspect, finish.")
    commands = parser.add_subparsers(dest="command", required=True)
    imp = commands.add_parser("import", help="import a recording made elsewhere as a tape")
    imp.add_argument("file")
    imp.add_argument("--format", required=True, help="hftbacktest-binance (collector lines '<ns> <json>', gzip)")
    imp.add_argument("--out", required=True, help="new tape directory")
    imp.add_argument("--symbol", help="the symbol to import when the file holds several")
    imp.add_argument("--market", choices=("usdm", "coinm"), help="default: coinm when the symbol has a '_'")
    imp.add_argument("--price-decimals", type=int, help="price grid 10^-N (default: inferred from the file)")
    imp.add_argument("--size-decimals", type=int, help="size grid 10^-N (default: inferred from the file)")
    imp.add_argument("--contract-usd", type=float,
                     help="COIN-M: one contract's value in USD (default: 100 for BTCUSD, 10 for the others)")
    imp.add_argument("--snapshot-limit", type=int, default=1000, help="levels the snapshots requested (1000)")
    imp.set_defaults(run=_import)
    info = commands.add_parser("info", help="manifest, size, gaps, resyncs, book replay checks")
    info.add_argument("dir")
    info.add_argument("--verbose", "-v", action="store_true", help="list every gap and mismatch")
    info.set_defaults(run=_info)
    compact = commands.add_parser("compact", help="finish a tape a killed recorder left (merge, clean up)")
    compact.add_argument("dir")
    compact.set_defaults(run=_compact)
    args = parser.parse_args(argv)
    return int(args.run(args))
