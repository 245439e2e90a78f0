"""Start-up checks against the venue, made before anything is signed or sent, and the start-up error type.

Rules:
- A start-up failure is a ``StartupError``: one line naming the cause (never a key, private or public) and
  the exit status the command line returns. The statuses are documented in the README.
- Venue unreachable: the market list cannot be fetched (connection refused, DNS, timeout, an answer that is
  not JSON): exit 3. Nothing was sent; trying again later is safe.
- The API key must be registered for the account at the venue, with the configured public key (both
  compared as lowercase hex without ``0x``, as the SDK's ``check_client`` does); otherwise exit 2, like any
  credentials error. The whole key list is asked for (as the SDK does): a venue that answers "not found"
  for a single index and one that leaves it out of the list mean the same.
"""
from __future__ import annotations

import json
from typing import Any

import aiohttp

from lmm.config.config import CONFIG_ERROR_EXIT_STATUS
from lmm.config.credentials import Credentials
from lmm.core.market import MarketInfo
from lmm.venue.lighter.market_info import MarketLookupError, UnknownMarketError, fetch_market

EXIT_FATAL = 1
EXIT_BAD_INPUT = CONFIG_ERROR_EXIT_STATUS  # configuration, credentials, command line
EXIT_VENUE_UNREACHABLE = 3
EXIT_ALREADY_RUNNING = 4

ACCOUNT_NOT_FOUND = 21100
API_KEY_NOT_FOUND = 21109
CHECK_TIMEOUT_S = 10.0
NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


class StartupError(Exception):
    """The bot cannot start; ``str()`` is the one line to print, ``status`` the exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def describe_network_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {CHECK_TIMEOUT_S:.0f} s"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port} ({exc.os_error.strerror or exc.os_error})"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def unreachable(base_url: str, cause: str) -> StartupError:
    return StartupError(f"venue unreachable: {base_url}: {cause} (nothing was sent; exit status "
                        f"{EXIT_VENUE_UNREACHABLE})", EXIT_VENUE_UNREACHABLE)


async def check_venue(session: aiohttp.ClientSession, base_url: str, symbol: str,
                      creds: Credentials) -> MarketInfo:
    """The market's metadata, once the venue has answered and knows the account, key and public key."""
    try:
        market = await fetch_market(session, base_url, symbol)
    except UnknownMarketError as exc:
        raise StartupError(f"market error: {exc}", EXIT_BAD_INPUT) from None
    except MarketLookupError as exc:
        raise unreachable(base_url, str(exc)) from None
    except NETWORK_ERRORS as exc:
        raise unreachable(base_url, describe_network_error(exc)) from None
    except ValueError:  # an answer that is not JSON: a proxy, a maintenance page, not a Lighter API
        raise unreachable(base_url, "the answer is not the Lighter API's JSON") from None
    await check_api_key(session, base_url, creds)
    return market


async def check_api_key(session: aiohttp.ClientSession, base_url: str, creds: Credentials) -> None:
    status, body = await _get_api_keys(session, base_url, creds.account_index)
    who = f"API key index {creds.api_key_index} of account {creds.account_index}"
    code = body.get("code")
    if code == ACCOUNT_NOT_FOUND:
        raise StartupError(f"credentials error: account {creds.account_index} is unknown to the venue at "
                           f"{base_url} (check ACCOUNT_INDEX)", EXIT_BAD_INPUT)
    entries = body.get("api_keys")
    if code == API_KEY_NOT_FOUND:
        entries = []
    elif status != 200 or code != 200 or not isinstance(entries, list):
        raise unreachable(base_url, f"apikeys answered HTTP {status} code {code}")
    mine = [e for e in entries if isinstance(e, dict) and _int(e.get("api_key_index")) == creds.api_key_index]
    if not mine:
        raise StartupError(f"credentials error: {who} is not registered at the venue {base_url} (check "
                           f"API_KEY_INDEX and ACCOUNT_INDEX)", EXIT_BAD_INPUT)
    if normalized_public_key(str(mine[0].get("public_key", ""))) != normalized_public_key(creds.public_key):
        raise StartupError(f"credentials error: API_KEY_PUBLIC_KEY is not the public key the venue has for {who}; "
                           f"refusing to trade (update .env or register the key)", EXIT_BAD_INPUT)


async def _get_api_keys(session: aiohttp.ClientSession, base_url: str,
                        account_index: int) -> tuple[int, dict[str, Any]]:
    url = f"{base_url.rstrip('/')}/api/v1/apikeys"
    try:
        async with session.get(url, params={"account_index": str(account_index)},
                               timeout=aiohttp.ClientTimeout(total=CHECK_TIMEOUT_S)) as resp:
            status, text = resp.status, await resp.text(errors="replace")
    except NETWORK_ERRORS as exc:
        raise unreachable(base_url, describe_network_error(exc)) from None
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise unreachable(base_url, f"apikeys answered HTTP {status} with no JSON object")
    return status, body


def normalized_public_key(key: str) -> str:
    return key.strip().lower().removeprefix("0x")


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
