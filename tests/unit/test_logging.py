"""Logging: queue-based, file at DEBUG, stdout at INFO, private key redacted everywhere."""
import io
import logging
import logging.handlers

from lmm.ops.logging_setup import RedactingFilter, setup_logging

SECRET = "0x" + "5f" * 40


def test_redacts_secret_in_message_args_and_traceback(tmp_path):
    out = io.StringIO()
    handle = setup_logging("INFO", tmp_path / "logs", secrets=[SECRET], stream=out)
    log = logging.getLogger("test.redact")
    try:
        log.info("key is %s", SECRET)
        log.info("bare upper %s", SECRET[2:].upper())
        log.debug("debug only %s", "visible-in-file")
        try:
            raise ValueError(f"boom {SECRET}")
        except ValueError:
            log.exception("failed")
    finally:
        handle.stop()
    stdout = out.getvalue()
    file_text = (tmp_path / "logs" / "lighter_mm.log").read_text()
    for text in (stdout, file_text):
        assert SECRET[2:].lower() not in text.lower()
        assert text.count("<redacted>") >= 3
        assert "ValueError" in text
    assert "visible-in-file" in file_text
    assert "visible-in-file" not in stdout


def test_filter_leaves_ordinary_hex_alone():
    flt = RedactingFilter([SECRET])
    tx_hash = "ab" * 40
    assert flt.redact(f"tx {tx_hash}") == f"tx {tx_hash}"
    assert flt.redact(f"pk {SECRET}") == "pk <redacted>"


def test_setup_is_idempotent(tmp_path):
    first = setup_logging("INFO", tmp_path / "a", stream=io.StringIO())
    second = setup_logging("INFO", tmp_path / "b", stream=io.StringIO())
    try:
        queue_handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.handlers.QueueHandler)]
        assert queue_handlers == [second.queue_handler]
    finally:
        second.stop()
        first.stop()
