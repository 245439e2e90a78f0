"""The local venue's order latency by account tier (lighter-api.md §7.6), and the transport that applies it on
the run's clock: a batch reaches the engine after the entry latency plus its tier delay."""
from __future__ import annotations

import pytest

from lmm.core.intents import TIF_IOC, TIF_POST_ONLY, CancelOrder, CreateOrder
from lmm.venue.clock import VirtualClock, virtual_time_loop
from lmm.venue.lighter.signing import SignedTx
from lmm.venue.local.sending import LocalTransport, tier_latency_s


def signed(intent) -> SignedTx:
    return SignedTx(intent, intent.tx_type, "{}", "h", 1)


QUOTE = signed(CreateOrder(1, 7, 100, 1000, False, time_in_force=TIF_POST_ONLY))
TAKE = signed(CreateOrder(1, 8, 100, 1000, True, time_in_force=TIF_IOC))
CANCEL = signed(CancelOrder(1, 5))


@pytest.mark.parametrize(("tier", "batch", "expected"), [
    ("premium", [QUOTE], 0.0), ("premium", [CANCEL, QUOTE], 0.0), ("premium", [TAKE], 0.2),
    ("premium", [QUOTE, TAKE], 0.2),
    ("standard", [QUOTE], 0.2), ("standard", [CANCEL], 0.2), ("standard", [TAKE, CANCEL], 0.3),
])
def test_tier_latency_of_a_batch(tier, batch, expected):
    assert tier_latency_s(tier, batch) == expected


class Accepted:
    http_status, body = 200, {"code": 200, "tx_hash": "h"}


class Gateway:
    def __init__(self, clock: VirtualClock) -> None:
        self.clock, self.arrived_ns = clock, []

    async def send_tx(self, tx_type: int, tx_info: str):
        self.arrived_ns.append(self.clock.monotonic_ns())

        return Accepted()


@pytest.mark.parametrize(("tier", "batch", "delay_ms"), [("premium", QUOTE, 50), ("premium", TAKE, 250),
                                                          ("standard", QUOTE, 250), ("standard", TAKE, 350)])
def test_the_transport_delivers_after_entry_plus_tier_latency(tier, batch, delay_ms):
    clock = VirtualClock()
    loop = virtual_time_loop(clock)
    gateway = Gateway(clock)
    transport = LocalTransport(gateway, 0.05, clock.monotonic_ns, tier)
    start = clock.monotonic_ns()
    try:
        loop.run_until_complete(transport.send([batch], timeout=5.0))
    finally:
        loop.close()
    [arrived] = gateway.arrived_ns
    assert abs(arrived - (start + delay_ms * 1_000_000)) <= 1_000  # float seconds: within a microsecond
