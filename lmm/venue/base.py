"""The venue seam: what the daemon trades through, whichever venue is behind it.

A ``Venue`` is built by an opener (live Lighter or the loopback simulator over sockets:
``lmm.daemon.venues.open_lighter``; the in-process local venue: ``lmm.venue.local.venue.LocalVenue``) and gives
the daemon the same members either way:

- ``market``: the market's rules (ticks, lots, minimums);
- ``streams``: book, trade and account events, as the venue's channels (``order_book``, ``account_all``,
  ``user_stats``, ``account_all_orders``), through the one subscription manager;
- ``sender``: intents in, outcomes out, under one lock and one nonce sequence (cancel-all and leverage are
  intents too);
- ``reader``: active orders, orders by client index, the account, the top of book, the account tier;
- ``tasks``: the venue's own background jobs, which the daemon supervises with its own;
- ``close``: releases everything (idempotent);
- ``has_binance`` and ``binance_wire``: whether the daemon may run the Binance feed, and how it reaches the
  venue's Binance market (None: over the network, at the configured endpoints; the local venue's is in-process).

The ``MarketMaker``, execution, pacing, reconcile and shutdown code above the seam is identical for all
venues; only the venue object and the clock differ.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from lmm.core.market import MarketInfo
from lmm.venue.binance.obi_feed import BinanceWire
from lmm.venue.lighter.rest import VenueReader
from lmm.venue.lighter.tx_sender import TxSender
from lmm.venue.ws.manager import LighterWsManager

Job = Callable[[], Awaitable[None]]


@dataclass
class Venue:
    name: str  # "lighter" (live, or the loopback simulator), "local" (in-process) or "paper"
    market: MarketInfo
    account_index: int
    streams: LighterWsManager
    sender: TxSender
    reader: VenueReader
    close: Callable[[], Awaitable[None]]
    tasks: Mapping[str, Job] = field(default_factory=dict)
    has_binance: bool = True  # False: the venue offers no Binance feed (the local venue without its market)
    binance_wire: BinanceWire | None = None  # None: the feed connects to the configured endpoints
