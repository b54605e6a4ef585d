"""When an AI adapter tries a request again, and after how long (sans-I/O).

Retried: HTTP 429 and the 5xx in ``RETRY_STATUSES`` (``Retry-After`` honoured, up to
``MAX_WAIT``) and requests that failed before any answer (connection refused or reset).
Not retried: any other status (a refusal: a bad key, a bad request), a malformed answer, a
timeout (the adapter's own timeout bounds all attempts together). The wait before retry
``n`` (0-based) is ``base * 2**n`` with up to 25 % random jitter added.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from gateway.errors import AdapterError, AdapterHTTPError, AdapterOutputError, AdapterTimeoutError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
#: the longest wait a Retry-After may ask for (longer ones are cut to this)
MAX_WAIT = 60.0
JITTER = 0.25


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """The seconds a ``Retry-After`` header asks for: delta-seconds or an HTTP date
    (a date in the past asks for 0); None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None  # HTTP dates are GMT; one without a zone is not one
        seconds = max(0.0, when.timestamp() - (time.time() if now is None else now))
    return seconds if seconds >= 0 and seconds != float("inf") else None


@dataclass
class Retrying:
    """``retries`` more attempts after the first, backing off from ``base`` seconds."""

    retries: int = 0
    base: float = 1.0
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.retries < 0 or self.base < 0:
            raise ValueError("retries and the backoff base must not be negative")

    def delay(self, attempt: int, error: AdapterError) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None: give up with ``error``."""
        if attempt >= self.retries or not retryable(error):
            return None
        wait = self.base * float(2**attempt)
        wait += wait * JITTER * self.rng.random()
        asked = error.retry_after if isinstance(error, AdapterHTTPError) else None
        if asked is not None:
            wait = max(wait, asked)
        return min(wait, MAX_WAIT)


def retryable(error: AdapterError) -> bool:
    if isinstance(error, AdapterHTTPError):
        return error.status in RETRY_STATUSES
    return not isinstance(error, AdapterOutputError | AdapterTimeoutError)
