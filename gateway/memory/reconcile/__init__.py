"""Range-based set reconciliation (negentropy-style), sans-I/O."""

from gateway.memory.reconcile.fingerprint import fingerprint
from gateway.memory.reconcile.items import INFINITY, MINIMUM, Bound, SortedItems
from gateway.memory.reconcile.protocol import Mode, Outcome, RangePart, Reconciler

__all__ = [
    "INFINITY",
    "MINIMUM",
    "Bound",
    "Mode",
    "Outcome",
    "RangePart",
    "Reconciler",
    "SortedItems",
    "fingerprint",
]
