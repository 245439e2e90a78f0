"""Paper mode builds no signer and no path to the venue's transaction endpoints: with the signer and the live
transports made to fail if touched, the daemon runs its whole life cycle on the live public feeds (start-up,
the supervised tasks, the shutdown's confirmed cancel on the local venue) and the simulator receives no
transaction. (Fills in paper mode: tests/e2e/test_e2e_paper.py.)"""
from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path

import pytest

from lmm.config.config import load_config
from lmm.daemon import run as daemon
from lmm.daemon.venues import open_paper
from lmm.venue.lighter import signing, tx_sender
from sim.testing import start_simulator

pytestmark = pytest.mark.timeout(240)


def _forbidden(*args, **kwargs):
    raise AssertionError("paper mode touched a signing or sending path of the live venue")


async def test_paper_mode_constructs_no_signer_and_sends_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(signing.Signer, "__init__", _forbidden)
    monkeypatch.setattr(tx_sender.RestTransport, "__init__", _forbidden)
    monkeypatch.setattr(tx_sender.WsTxTransport, "__init__", _forbidden)
    monkeypatch.setattr(tx_sender.NonceKeeper, "__init__", _forbidden)
    with start_simulator(seed=5) as sim:
        data = {"vol_obi": {"warmup_seconds": 2, "min_warmup_samples": 10},
                "alpha": {"min_samples": 10},
                "endpoints": {"lighter_base_url": sim.lighter_url, "lighter_ws_url": sim.lighter_ws_url,
                              "binance_rest_url": sim.binance_rest_url, "binance_ws_url": sim.binance_ws_url}}
        path = tmp_path / "config.json"
        path.write_text(json.dumps(data))
        config = load_config(path, env={})
        status = await daemon.run_daemon(config, "BTC", None, duration=15, stop=asyncio.Event(),
                                         venue=functools.partial(open_paper, config, "BTC"))
        assert status == daemon.EXIT_OK
        assert sim.simulator_thread.simulator.lighter.gateway.received_count == 0
