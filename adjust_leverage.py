"""Set leverage and margin mode for one Lighter market: ``python adjust_leverage.py --symbol BTC --leverage 3``.

Reads credentials from ``.env`` and endpoints from the configuration (so ``LIGHTER_BASE_URL`` can point it at
the simulator). Validates the arguments, sends one UpdateLeverage transaction through the same nonce-safe
sender as the bot, and reports what the exchange answered. Exit status: 0 accepted, 1 refused or failed,
2 bad arguments or configuration.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from typing import NoReturn

import aiohttp

from lmm.config.config import ConfigError, exit_on_config_error, load_config
from lmm.config.credentials import Credentials, load_credentials, load_dotenv_file
from lmm.core.intents import CROSS_MARGIN, ISOLATED_MARGIN, UpdateLeverage
from lmm.daemon.process_lock import acquire_process_lock
from lmm.daemon.startup_checks import StartupError
from lmm.venue.lighter.client import open_trading_client
from lmm.venue.lighter.market_info import MarketLookupError, fetch_market

MAX_LEVERAGE = 50
EXIT_BAD_INPUT = 2


class _OneLineParser(argparse.ArgumentParser):
    """A command-line mistake is one line on stderr (exit status 2), not a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see --help)\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _OneLineParser(description="Set leverage and margin mode for a Lighter perp market.")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--symbol", help="market symbol, e.g. BTC or ETH")
    target.add_argument("--market-id", type=int, help="market id, e.g. 1 for BTC")
    parser.add_argument("--leverage", type=int, required=True, help=f"1..{MAX_LEVERAGE} (the market may allow less)")
    parser.add_argument("--margin-mode", choices=("cross", "isolated"), default="cross",
                        help="margin mode (default: cross)")
    parser.add_argument("--config", help="config file (default: config.json next to the program)")
    args = parser.parse_args(argv)
    if not 1 <= args.leverage <= MAX_LEVERAGE:
        parser.error(f"--leverage must be in 1..{MAX_LEVERAGE}, got {args.leverage}")
    return args


async def adjust(args: argparse.Namespace) -> int:
    dotenv_warning = load_dotenv_file()
    if dotenv_warning:
        print(f"warning: {dotenv_warning}", file=sys.stderr)
    config = load_config(args.config)
    creds = load_credentials()
    base_url = config.endpoints.lighter_base_url
    try:  # it signs with the bot's key: never while a bot holds that key index (one nonce sequence)
        lock = acquire_process_lock(base_url, creds.account_index, creds.api_key_index, args.symbol or "leverage")
    except StartupError as error:
        print(str(error), file=sys.stderr)
        return error.status
    try:
        return await _send_leverage(args, base_url, creds)
    finally:
        lock.release()


async def _send_leverage(args: argparse.Namespace, base_url: str, creds: Credentials) -> int:
    async with aiohttp.ClientSession() as session:
        market = await fetch_market(session, base_url, args.symbol, args.market_id)
        client = await open_trading_client(base_url, None, creds, session=session)
        try:
            mode = ISOLATED_MARGIN if args.margin_mode == "isolated" else CROSS_MARGIN
            [result] = await client.sender.send([UpdateLeverage(market.market_id, args.leverage, mode)])
        finally:
            await client.close()
    if result.ok:
        print(f"{market.symbol} (market {market.market_id}): leverage {args.leverage}x {args.margin_mode} accepted, "
              f"tx {result.tx_hashes[0] if result.tx_hashes else '?'}")
        return 0
    print(f"{market.symbol} (market {market.market_id}): leverage change not accepted: {result.outcome.value} "
          f"code={result.code} {result.message}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(adjust(args))
    except ConfigError as error:
        exit_on_config_error(error)
    except MarketLookupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (aiohttp.ClientError, OSError, RuntimeError) as error:
        print(f"error: cannot reach the exchange: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
