"""Market tapes: `python tape.py import FILE --format hftbacktest-binance --out DIR`, `info DIR [--verbose]`,
`compact DIR`. See docs/tape.md."""
from lmm.venue.tape.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
