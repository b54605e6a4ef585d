"""A byte budget over a sliding window: the padding budgets of FRONT and of burst shaping."""

from __future__ import annotations

import collections

#: the window of a padding budget, seconds
BUDGET_WINDOW = 60.0


class WindowBudget:
    """At most ``limit`` bytes spent in any ``window`` seconds (times in seconds)."""

    def __init__(self, limit: int, window: float = BUDGET_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._spent: collections.deque[tuple[float, int]] = collections.deque()
        self._used = 0

    def fits(self, now: float, size: int) -> bool:
        """Whether spending ``size`` more bytes at ``now`` stays within the limit."""
        while self._spent and self._spent[0][0] <= now - self.window:
            self._used -= self._spent.popleft()[1]
        return self._used + size <= self.limit

    def spend(self, now: float, size: int) -> None:
        """Count ``size`` bytes spent at ``now`` (whether or not they fit)."""
        self._spent.append((now, size))
        self._used += size
