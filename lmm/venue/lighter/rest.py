"""Read-only REST calls the bot makes to Lighter, and the auth-token cache they and the WS share.

Rules: every call has a timeout and raises ``VenueReadError`` (one type to catch) on HTTP errors,
timeouts or malformed bodies. Tokens are minted on the signer thread with a 7 h lifetime (the venue caps
them at 8 h) and replaced 30 minutes before expiry.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from lmm.venue.lighter.signing import Signer
from lmm.venue.ws.manager import AuthToken

TOKEN_LIFETIME_S = 7 * 3600
TOKEN_RENEW_BEFORE_S = 1800


class VenueReadError(RuntimeError):
    pass


class TokenCache:
    def __init__(self, signer: Signer, lifetime_s: int = TOKEN_LIFETIME_S,
                 wall: Callable[[], float] = time.time) -> None:
        self._signer = signer
        self._wall = wall
        self._lifetime = lifetime_s
        self._token: AuthToken | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> AuthToken:
        async with self._lock:
            if self._token is None or self._token.expires_at - self._wall() < TOKEN_RENEW_BEFORE_S:
                expires_at = self._wall() + self._lifetime
                value = await self._signer.auth_token(self._lifetime)
                self._token = AuthToken(value, expires_at)
            return self._token


class VenueReader:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, account_index: int,
                 tokens: TokenCache, timeout: float = 5.0) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._account = str(account_index)
        self._tokens = tokens
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _get(self, path: str, params: dict[str, str], auth: bool = False) -> dict[str, Any]:
        try:
            headers = {"authorization": (await self._tokens.get()).value} if auth else None
        except Exception as exc:  # the signer refused to mint a token
            raise VenueReadError(f"GET {path}: no auth token: {exc}") from None
        try:
            status, body = await self._http_get(path, params, headers)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise VenueReadError(f"GET {path}: {type(exc).__name__}: {exc}") from None
        if status != 200 or not isinstance(body, dict) or body.get("code", 200) != 200:
            raise VenueReadError(f"GET {path}: HTTP {status} {str(body)[:200]}")
        return body

    async def _http_get(self, path: str, params: dict[str, str], headers: dict[str, str] | None) -> tuple[int, Any]:
        async with self._session.get(self._base + path, params=params, headers=headers,
                                     timeout=self._timeout) as resp:
            return resp.status, await resp.json(content_type=None)

    async def active_orders(self, market_id: int) -> list[dict[str, Any]]:
        body = await self._get("/api/v1/accountActiveOrders",
                               {"account_index": self._account, "market_id": str(market_id)}, auth=True)
        return list(body.get("orders") or [])

    async def orders_by_client_index(self, client_indexes: list[int]) -> list[dict[str, Any]]:
        """The account's orders with these client order indexes (at most 20), whatever their status."""
        if not client_indexes:
            return []
        body = await self._get("/api/v1/accountOrders",
                               {"account_index": self._account,
                                "client_order_indexes": ",".join(str(i) for i in client_indexes[:20])}, auth=True)
        return list(body.get("orders") or [])

    async def account_trades(self, market_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """The account's latest trades on a market, newest first (``GET /api/v1/trades``, at most 100)."""
        body = await self._get("/api/v1/trades",
                               {"account_index": self._account, "market_id": str(market_id), "sort_by": "timestamp",
                                "sort_dir": "desc", "limit": str(limit)}, auth=True)
        return list(body.get("trades") or [])

    async def order_book_orders(self, market_id: int, limit: int = 5) -> dict[str, Any]:
        return await self._get("/api/v1/orderBookOrders", {"market_id": str(market_id), "limit": str(limit)})

    async def account(self) -> dict[str, Any]:
        return await self._get("/api/v1/account", {"by": "index", "value": self._account})

    async def is_premium(self) -> bool:
        body = await self._get("/api/v1/accountLimits", {"account_index": self._account}, auth=True)
        return str(body.get("user_tier", "")).lower() == "premium"
