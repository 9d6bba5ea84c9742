"""Logging helpers: warnings that an outage would otherwise repeat on every request."""

import logging
import threading
import time

# During an outage a process logs each kind of degradation at most once in this many
# seconds: one line says Redis is down; ten thousand say nothing more, and drown the rest.
THROTTLE_SECONDS = 60.0

_last: dict[str, float] = {}
_suppressed: dict[str, int] = {}
_lock = threading.Lock()


def warn_throttled(
    logger: logging.Logger, key: str, message: str, *args: object, exc_info: bool = False
) -> bool:
    """Log a warning unless one with the same key was logged in the last ``THROTTLE_SECONDS``.

    The next line that does go out says how many were held back. Returns whether it logged.
    """
    now = time.monotonic()
    with _lock:
        last = _last.get(key)
        if last is not None and now - last < THROTTLE_SECONDS:
            _suppressed[key] = _suppressed.get(key, 0) + 1
            return False
        _last[key] = now
        held_back = _suppressed.pop(key, 0)
    if held_back:
        message += " (%d more like this in the last minute)"
        args = (*args, held_back)
    logger.warning(message, *args, exc_info=exc_info)
    return True


def throttle_reset() -> None:
    """Forget what was logged (tests, which each expect their own first warning)."""
    with _lock:
        _last.clear()
        _suppressed.clear()
