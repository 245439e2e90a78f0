"""The bot's connection to Lighter for writing: HTTP session, signer, nonce keeper and sender, built once.

Rules: every write to the venue goes through ``TradingClient.sender`` (one lock, one nonce sequence). The
WebSocket transaction socket is optional; REST is always there as the fallback. ``close`` releases
everything and is safe to call twice.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import aiohttp

from lmm.config.credentials import Credentials
from lmm.venue.lighter.signing import Signer
from lmm.venue.lighter.tx_sender import NonceKeeper, RestTransport, Transport, TxSender, WsTxTransport

log = logging.getLogger("lighter_mm.client")


@dataclass
class TradingClient:
    session: aiohttp.ClientSession
    signer: Signer
    nonces: NonceKeeper
    sender: TxSender
    ws_transport: WsTxTransport | None

    async def close(self) -> None:
        if self.ws_transport is not None:
            with contextlib.suppress(Exception):
                await self.ws_transport.close()
        with contextlib.suppress(Exception):
            await self.signer.close()
        if not self.session.closed:
            await self.session.close()


async def open_trading_client(base_url: str, ws_url: str | None, creds: Credentials,
                              session: aiohttp.ClientSession | None = None,
                              send_timeout: float = 10.0) -> TradingClient:
    """Build the writer. With ``ws_url`` the transaction socket is tried first (REST if it can't connect)."""
    own_session = session is None
    session = session or aiohttp.ClientSession()
    signer = Signer(base_url, creds.account_index, creds.api_key_index, creds.private_key)
    nonces = NonceKeeper(session, base_url, creds.account_index, creds.api_key_index)
    transports: list[Transport] = []
    ws_transport = None
    try:
        if ws_url:
            ws_transport = WsTxTransport(ws_url)
            transports.append(ws_transport)  # unavailable until connected; the daemon keeps reconnecting it
            try:
                await ws_transport.connect()
            except Exception as exc:  # REST remains; the socket is an optimisation
                log.warning("transaction socket unavailable (%s); sending over REST", exc)
        transports.append(RestTransport(session, base_url))
        sender = TxSender(signer, nonces, transports, timeout=send_timeout)
        await nonces.hard_refresh()
    except BaseException:  # nothing half-open is left behind (a session passed in stays the caller's)
        if ws_transport is not None:
            with contextlib.suppress(Exception):
                await ws_transport.close()
        with contextlib.suppress(Exception):
            await signer.close()
        if own_session:
            await session.close()
        raise
    return TradingClient(session, signer, nonces, sender, ws_transport)
