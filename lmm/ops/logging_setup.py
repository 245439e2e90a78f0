"""Centralized logging: stdout at INFO (or the chosen level), a rotating file under ``logs/`` at DEBUG.

Rules:
- The event loop never writes to a stream or file: records go into a queue (QueueHandler) and a listener
  thread does the I/O.
- Every record passes a redaction filter before it is queued: the configured secrets (the API private key,
  with or without ``0x``, in either case) are replaced by ``<redacted>`` in the message, its arguments and
  any formatted traceback. Shape-based redaction is not used: transaction hashes and public keys have the
  same 80-hex shape and must stay readable.
- Tracebacks go to the log file only: the console gets the record's line plus the exception's last line
  and where the traceback is (``ConsoleFormatter``). Without a log file the console keeps them.
- A record logged with ``extra={"console": False}`` goes to the file only (a cause already printed on
  stderr, for instance).
- ``setup_logging`` is idempotent: calling it again replaces the previous setup (tests, restarts).
- The queue is bounded (``MAX_PENDING_RECORDS``): when the output cannot keep up (a console pipe nobody reads
  blocks the listener), new records are dropped and counted instead of piling up in memory for ever; the
  next record that fits is preceded by a warning saying how many were lost.
"""
from __future__ import annotations

import atexit
import copy
import logging
import logging.handlers
import queue
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REDACTED = "<redacted>"
MAX_PENDING_RECORDS = 10_000
FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"


class RedactingFilter(logging.Filter):
    """Replaces secrets in a record with ``<redacted>``; the record's args are merged into its message."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        variants = {v for secret in secrets for v in _variants(secret)}
        self._secrets = sorted(variants, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def _variants(secret: str) -> tuple[str, ...]:
    bare = secret.strip().removeprefix("0x")
    if len(bare) < 8:  # too short to be a key; replacing it would mangle ordinary text
        return ()
    return ("0x" + bare, bare, bare.lower(), bare.upper())


class _RecordQueueHandler(logging.handlers.QueueHandler):
    """Queues a copy of the record with its traceback kept apart (``exc_text``), so that each handler's
    formatter decides where it goes. The redacting filter has already merged the arguments into the message
    and turned ``exc_info`` into text, so the copy holds nothing that could not cross threads."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)
        record.message = record.getMessage()
        record.msg, record.args, record.exc_info = record.message, None, None
        return record


class ConsoleFormatter(logging.Formatter):
    """One line a record: a traceback is replaced by its last line and a pointer to the log file."""

    def __init__(self, fmt: str, log_file: Path) -> None:
        super().__init__(fmt)
        self._log_file = log_file

    def format(self, record: logging.LogRecord) -> str:
        trace, stack = record.exc_text, record.stack_info
        record.exc_text = record.stack_info = None
        try:
            line = super().format(record)
        finally:
            record.exc_text, record.stack_info = trace, stack
        if trace:
            last = trace.strip().splitlines()[-1] if trace.strip() else ""
            cause = f"{last}; " if last and last not in line else ""
            line += f" ({cause}traceback in {self._log_file})"
        return line


def _console_wanted(record: logging.LogRecord) -> bool:
    return getattr(record, "console", True)


@dataclass
class LoggingHandle:
    listener: logging.handlers.QueueListener
    queue_handler: logging.handlers.QueueHandler
    log_file: Path | None

    def stop(self) -> None:
        """Flush and stop the listener thread; safe to call twice."""
        root = logging.getLogger()
        if self.queue_handler in root.handlers:
            root.removeHandler(self.queue_handler)
        if self.listener._thread is not None:
            self.listener.stop()
        for handler in self.listener.handlers:
            handler.close()


class BoundedQueueHandler(_RecordQueueHandler):
    """A QueueHandler that drops (and counts) records while ``max_pending`` are already waiting."""

    def __init__(self, record_queue: queue.SimpleQueue[logging.LogRecord], max_pending: int) -> None:
        super().__init__(record_queue)
        self.max_pending = max_pending
        self.dropped = 0
        self._reported = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        if self.queue.qsize() >= self.max_pending:
            self.dropped += 1
            return
        if self.dropped > self._reported:
            lost, self._reported = self.dropped - self._reported, self.dropped
            self.queue.put_nowait(logging.makeLogRecord({
                "name": "lighter_mm.logging", "levelno": logging.WARNING, "levelname": "WARNING",
                "msg": f"{lost} log record(s) dropped: the log output could not keep up"}))
        self.queue.put_nowait(record)


_current: LoggingHandle | None = None


def setup_logging(
    level: str = "INFO",
    log_dir: str | Path | None = "logs",
    secrets: Iterable[str] = (),
    file_name: str = "lighter_mm.log",
    stream=None,
) -> LoggingHandle:
    """Install the queue-based logging setup on the root logger and return a handle to stop it."""
    global _current
    if _current is not None:
        _current.stop()
    console = logging.StreamHandler(stream or sys.stdout)
    console.setLevel(level.upper())
    console.addFilter(_console_wanted)
    handlers: list[logging.Handler] = [console]
    log_file = None
    if log_dir is None:
        console.setFormatter(logging.Formatter(FORMAT))
    else:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        log_file = Path(log_dir) / file_name
        console.setFormatter(ConsoleFormatter(FORMAT, log_file))
        file_handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=20 * 1024 * 1024, backupCount=5, encoding="utf-8"
        )
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(logging.Formatter(FORMAT))
        handlers.append(file_handler)

    record_queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    queue_handler = BoundedQueueHandler(record_queue, MAX_PENDING_RECORDS)
    queue_handler.addFilter(RedactingFilter(secrets))
    listener = logging.handlers.QueueListener(record_queue, *handlers, respect_handler_level=True)

    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.handlers.QueueHandler):
            root.removeHandler(handler)
    root.addHandler(queue_handler)
    root.setLevel(logging.DEBUG if log_dir is not None else level.upper())
    # websockets logs every frame at DEBUG: thirty lines a second of noise and measurable CPU
    logging.getLogger("websockets").setLevel(logging.INFO)
    listener.start()
    _current = LoggingHandle(listener, queue_handler, log_file)
    atexit.register(_current.stop)
    return _current
