"""Pacing and reply classification: pure decisions."""
import pytest

from lmm.core.outcomes import Outcome
from lmm.core.pacing import FREE_SLOT_SECONDS, UNLIMITED, Pacer, quota_pacing_multiplier
from lmm.venue.lighter.tx_sender import classify_reply


@pytest.mark.parametrize(("quota", "mult"), [(None, 1.0), (10_000, 1.0), (500, 1.0), (499, 1.5), (50, 1.5),
                                             (49, 3.0), (10, 3.0), (9, float("inf")), (0, float("inf"))])
def test_quota_pacing_table(quota, mult):
    assert quota_pacing_multiplier(quota) == mult


def test_min_interval_between_sends():
    pacer = Pacer(send_interval=0.1)
    assert pacer.permit(100.0, 1000).wait == 0
    pacer.on_sent(100.0, quota_ops=2)
    assert pacer.permit(100.04, 1000).wait == pytest.approx(0.06)
    assert pacer.permit(100.2, 1000).wait == 0


def test_quota_scaled_wait():
    pacer = Pacer(send_interval=0.1)
    pacer.on_sent(0.0, 1)
    assert pacer.permit(0.0, 100).wait == pytest.approx(0.15)
    assert pacer.permit(0.0, 20).wait == pytest.approx(0.3)


def test_free_slot_regime_allows_one_quota_op_per_15s_and_cancels_anytime():
    pacer = Pacer(send_interval=0.1)
    pacer.on_sent(0.0, quota_ops=1)
    permit = pacer.permit(1.0, 0)
    assert permit.wait == 0 and permit.max_quota_ops == 0  # cancels only
    pacer.on_sent(1.0, quota_ops=0)  # a cancel does not use the free slot
    assert pacer.free_slot_in(1.0) == pytest.approx(FREE_SLOT_SECONDS - 1.0)
    assert pacer.permit(FREE_SLOT_SECONDS, 0).max_quota_ops == 1


def test_standard_tier_sixty_per_minute():
    pacer = Pacer(send_interval=0.0, premium=False)
    for i in range(60):
        assert pacer.permit(i * 0.5, None).wait == 0
        pacer.on_sent(i * 0.5, 1)
    permit = pacer.permit(30.0, None)
    assert permit.wait == pytest.approx(30.0)  # the first send leaves the window at t=60
    assert permit.max_quota_ops == UNLIMITED


def test_backoff_holds_everything():
    pacer = Pacer()
    pacer.hold_until(50.0)
    assert pacer.permit(20.0, None).wait == pytest.approx(30.0)


def test_classify_replies():
    ok = classify_reply(200, {"code": 200, "tx_hash": "ab", "volume_quota_remaining": 999})
    assert ok.outcome is Outcome.ACCEPTED and ok.tx_hashes == ("ab",) and ok.volume_quota_remaining == 999
    assert classify_reply(400, {"code": 21104, "message": "invalid nonce"}).outcome is Outcome.REJECTED
    assert classify_reply(429, {"code": 23000}).outcome is Outcome.RATE_LIMITED
    assert classify_reply(200, {"code": 23000}).outcome is Outcome.RATE_LIMITED
    assert classify_reply(502, {}).outcome is Outcome.UNKNOWN
    ws_err = classify_reply(200, {"error": {"code": 21104, "message": "invalid nonce"}, "id": "x"})
    assert ws_err.outcome is Outcome.REJECTED and ws_err.code == 21104
    batch = classify_reply(200, {"code": 200, "tx_hash": ["a", "b"], "type": "jsonapi/sendtxbatch"})
    assert batch.tx_hashes == ("a", "b") and batch.volume_quota_remaining is None
    assert classify_reply(200, {"code": 21739, "message": "x"}).outcome is Outcome.REJECTED
