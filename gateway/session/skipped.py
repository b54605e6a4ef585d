"""The store of skipped message keys (Double Ratchet spec, MKSKIPPED).

Keys are grouped by receiving chain. A chain is named by its *chain id*: the
sender's ratchet public key without header encryption, the receiving header key
(HKr) with header encryption (as in the spec). Each chain remembers the receiving
DH-ratchet step at which it was current, so keys older than a number of steps can
be dropped as a whole (:meth:`SkippedKeys.pruned`).

The store is immutable: every change returns a new store, which lets
:class:`~gateway.session.ratchet.RatchetState` share it between versions of a
state without copying it on the hot path.

Serialized layout (inside the ratchet state blob)::

    u32 number of chains, then per chain:
      chain id (32) | u32 step | u32 number of keys | (u32 n | message-key seed (32)) * count
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway.errors import SessionStateError
from gateway.session.state_codec import Reader, Writer


@dataclass(frozen=True, slots=True)
class SkippedChain:
    """The skipped keys of one receiving chain: message number -> message-key seed."""

    step: int
    keys: Mapping[int, bytes]


class SkippedKeys:
    """An immutable map ``(chain id, n) -> message-key seed``."""

    __slots__ = ("_chains", "_total")

    def __init__(self, chains: Mapping[bytes, SkippedChain] | None = None) -> None:
        self._chains: Mapping[bytes, SkippedChain] = MappingProxyType(dict(chains or {}))
        self._total = sum(len(c.keys) for c in self._chains.values())

    def __len__(self) -> int:
        return self._total

    def __iter__(self) -> Iterator[bytes]:
        """Iterate over chain ids, oldest chain first."""
        return iter(self._chains)

    def chain(self, chain_id: bytes) -> SkippedChain | None:
        return self._chains.get(chain_id)

    def get(self, chain_id: bytes, n: int) -> bytes | None:
        chain = self._chains.get(chain_id)
        return None if chain is None else chain.keys.get(n)

    def without(self, chain_id: bytes, n: int) -> SkippedKeys:
        """The store minus one key (an unknown key is ignored)."""
        chain = self._chains.get(chain_id)
        if chain is None or n not in chain.keys:
            return self
        chains = dict(self._chains)
        keys = {k: v for k, v in chain.keys.items() if k != n}
        if keys:
            chains[chain_id] = SkippedChain(chain.step, MappingProxyType(keys))
        else:
            del chains[chain_id]
        return SkippedKeys(chains)

    def with_keys(self, chain_id: bytes, step: int, keys: Mapping[int, bytes]) -> SkippedKeys:
        """The store plus ``keys`` for ``chain_id`` (merged with that chain's keys)."""
        if not keys:
            return self
        chains = dict(self._chains)
        old = chains.pop(chain_id, None)
        merged = dict(old.keys) if old is not None else {}
        merged.update(keys)
        chains[chain_id] = SkippedChain(step, MappingProxyType(merged))
        return SkippedKeys(chains)

    def pruned(self, min_step: int) -> SkippedKeys:
        """The store without the chains whose step is below ``min_step``."""
        if all(c.step >= min_step for c in self._chains.values()):
            return self
        return SkippedKeys({i: c for i, c in self._chains.items() if c.step >= min_step})

    def write(self, out: Writer) -> None:
        out.u32(len(self._chains))
        for chain_id, chain in self._chains.items():
            out.raw(chain_id, 32)
            out.u32(chain.step)
            out.u32(len(chain.keys))
            for n, mk in chain.keys.items():
                out.u32(n)
                out.raw(mk, 32)

    @classmethod
    def read(cls, src: Reader) -> SkippedKeys:
        chains: dict[bytes, SkippedChain] = {}
        for _ in range(src.u32()):
            chain_id = src.raw(32)
            step = src.u32()
            keys: dict[int, bytes] = {}
            for _ in range(src.u32()):
                n = src.u32()
                keys[n] = src.raw(32)
            if chain_id in chains or not keys:
                raise SessionStateError("skipped-key store has a duplicate or empty chain")
            chains[chain_id] = SkippedChain(step, MappingProxyType(keys))
        return cls(chains)


EMPTY = SkippedKeys()
