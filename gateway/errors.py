"""The one exception tree of gateway.

Every error that gateway raises on purpose is a :class:`GatewayError`. Errors of
the libraries underneath (stem, aiohttp, sqlite3, cryptography, OS calls) are
mapped onto this tree at the I/O boundary where they happen (see
:func:`map_exceptions`), so callers never need to know which library failed.

::

  GatewayError
   |- ConfigError                 bad YAML, wrong key, bad value (exit status 2)
   |- StateError                  the node's state directory or key files
   |   |- KeyFileError            a key file is missing, malformed or too open
   |   |- DatabaseError           the node's SQLite database (node.db)
   |   |- StoreError              the memory store
   |   |- EmbeddingError          the embedding model (search by meaning)
   |   +- BackupError             a backup archive cannot be made or restored
   |       |- WrongPassphraseError the passphrase does not open the archive
   |       +- CorruptArchiveError  not a backup, damaged, truncated or of an unknown version
   |- TorError                    anything about the tor process
   |   |- TorNotFoundError        no tor binary
   |   |- TorLaunchError          tor did not start
   |   |- BootstrapError          tor did not bootstrap (last phase, warnings)
   |   |- ControlError            control port/socket: connect or authenticate
   |   |- TorCapabilityError      an attached tor cannot apply the level's options
   |   |- PublishError            the onion service was not published in time
   |   |- TorDiedError            tor exited under a running node
   |   +- SocksError              tor's SOCKS port opened no connection (error_code)
   |- TestnetError                the private Tor network
   |- ProtocolError               malformed or hostile input from a peer
   |   |- FrameError              a frame that cannot be decoded
   |   |- VersionError            an unsupported protocol or state version
   |   |- HandshakeError          the Noise handshake failed
   |   |- DecryptError            AEAD authentication failed (tampered, wrong key)
   |   |- ReplayError             a message that was already received
   |   |- TooManySkippedError     a message beyond MAX_SKIP or the skipped-key caps
   |   |- EntryError              a memory entry refused (reason: bad_signature, fork, ...)
   |   |   +- ForkError           a second entry at the same (author, space, seq)
   |   |- SyncError               a memory sync message that cannot be used
   |   |- CircleError             a circle (PBFT) message: malformed, bad signature, wrong circle
   |   +- ConvergeMessageError    a convergence message: malformed, bad signature, not allowed
   |       +- NotParticipantError a convergence message from a non-participant
   |- SessionStateError           session state that cannot be used (wrong order, bad blob)
   |- CircleStateError            a circle replica's snapshot or a call it cannot take now
   |- AdapterError                an AI adapter failed (only that peer's answer fails)
   |   |- AdapterTimeoutError     no answer within the adapter's timeout
   |   |- AdapterOutputError      malformed, non-UTF-8 or oversized output
   |   |- AdapterHTTPError        an AI endpoint answered with an HTTP error status
   |   +- LocalAIError            the bundled local model server cannot be used
   |       +- LocalAIMissingError the local-ai extra (llama.cpp server, model) is not installed
   |- RoundError                  a convergence round cannot be set up or used
   |- LinkError                   a link cannot do what was asked (channel, size)
   |   +- QueueFullError          a bounded send queue is full (backpressure)
   |- ApiError                    the running node's local API refused or did not answer
   |- PingError                   an onion could not be reached through tor
   |- InviteError                 an invite: malformed, bad signature, expired, reused, self
   |- ContactError                no such contact, or an ambiguous name
   +- ServiceError                the system service cannot be installed or removed
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path


class GatewayError(Exception):
    """Base class of every error that gateway raises on purpose.

    Every error has a stable snake_case ``code`` (the CLI prints ``code: sentence``, the
    local API answers ``{"error": {"code": ..., "message": ...}}``): by default the class
    name without ``Error`` (``ContactError`` -> ``contact``); errors with a ``reason``
    add it (``invite_expired``, ``entry_bad_signature``).
    """

    #: process exit status used by the CLI when this error reaches it
    exit_status: int = 1

    @property
    def code(self) -> str:
        return class_code(type(self))


def class_code(cls: type[BaseException]) -> str:
    """``NotParticipantError`` -> ``not_participant``."""
    name = cls.__name__.removesuffix("Error") or cls.__name__
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# --- configuration ---------------------------------------------------------


class ConfigError(GatewayError):
    """A configuration problem: names the file, the key path and what was expected.

    ``key_path`` is dotted (``tor.control.port``); ``expected`` says what form
    was wanted; ``got`` is a short repr of what was found (or ``None``).
    """

    exit_status = 2

    def __init__(
        self,
        file: Path | str | None,
        key_path: str,
        expected: str,
        got: object = None,
        *,
        detail: str | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.key_path = key_path
        self.expected = expected
        self.got = got
        self.detail = detail
        where = self.file or "<config>"
        msg = f"{where}: {key_path or '<top level>'}: expected {expected}"
        if got is not None:
            shown = repr(got)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            msg += f", got {shown}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


# --- node state --------------------------------------------------------------


class StateError(GatewayError):
    """The node's state directory or a file in it is unusable."""


class KeyFileError(StateError):
    """A key file is missing, malformed, or readable by others."""


class BackupError(StateError):
    """A backup archive cannot be written or restored (nothing was overwritten)."""


class WrongPassphraseError(BackupError):
    """The archive is intact but the passphrase does not open it."""


class CorruptArchiveError(BackupError):
    """Not a gateway backup, or damaged, truncated, or of an unsupported format version."""


# --- tor -------------------------------------------------------------------


class TorError(GatewayError):
    """Anything about the tor process or its control connection."""


class TorNotFoundError(TorError):
    """No tor binary was found where the configuration says."""


class TorLaunchError(TorError):
    """tor could not be started."""


class BootstrapError(TorError):
    """tor did not finish bootstrapping.

    ``last_phase`` is tor's last reported bootstrap phase (tag and summary),
    ``warnings`` the warnings tor logged while trying.
    """

    def __init__(
        self, message: str, *, last_phase: str | None = None, warnings: tuple[str, ...] = ()
    ) -> None:
        self.last_phase = last_phase
        self.warnings = warnings
        full = message
        if last_phase:
            full += f"; last phase: {last_phase}"
        if warnings:
            full += "; tor warnings: " + " | ".join(warnings[-5:])
        super().__init__(full)


class ControlError(TorError):
    """The control port or socket could not be reached or authenticated."""


class TorCapabilityError(TorError):
    """An attached tor cannot apply options that the security level needs."""

    def __init__(self, message: str, *, missing: tuple[str, ...] = ()) -> None:
        self.missing = missing
        super().__init__(message)


class PublishError(TorError):
    """The onion service was not published (no HS_DESC UPLOADED in time)."""


class TorDiedError(TorError):
    """tor exited under a running node."""


class SocksError(TorError):
    """tor's SOCKS port did not open a connection.

    ``error_code`` is the SOCKS5 reply when tor gave one (RFC 1928 replies 1-8, tor's
    onion-service replies 0xF0-0xF7: :mod:`gateway.tor.socksreply`), None when the
    exchange itself went wrong.
    """

    def __init__(self, message: str, *, error_code: int | None = None) -> None:
        self.error_code = error_code
        super().__init__(message)


# --- private test network ------------------------------------------------------


class TestnetError(GatewayError):
    """The private Tor network could not be created, started or stopped."""

    __test__ = False  # not a pytest test class


# --- wire protocol ------------------------------------------------------------


class ProtocolError(GatewayError):
    """Malformed or hostile input received from a peer."""


class FrameError(ProtocolError):
    """A frame that cannot be decoded (truncated, oversized, bad padding)."""


class VersionError(ProtocolError):
    """An unsupported protocol, message or state version."""


class HandshakeError(ProtocolError):
    """The handshake failed: bad message, wrong key, or out of order."""


class DecryptError(ProtocolError):
    """AEAD authentication failed: the bytes were tampered with or the key is wrong."""


class ReplayError(ProtocolError):
    """A message that was already received (duplicate or replay)."""


class TooManySkippedError(ProtocolError):
    """A message would skip more keys than MAX_SKIP or the skipped-key caps allow."""


# --- session state ------------------------------------------------------------


class SessionStateError(GatewayError):
    """Session state that cannot be used: bad blob, wrong order of calls."""


# --- convergence ---------------------------------------------------------------


class AdapterError(GatewayError):
    """An AI adapter failed to produce an answer; only that peer's answer fails.

    ``adapter`` names the adapter (its config name) when known.
    """

    def __init__(self, message: str, *, adapter: str | None = None) -> None:
        self.adapter = adapter
        super().__init__(f"adapter {adapter!r}: {message}" if adapter else message)


class AdapterTimeoutError(AdapterError):
    """The AI adapter did not answer within its timeout."""


class AdapterOutputError(AdapterError):
    """The AI adapter's output was malformed, not UTF-8, or over the size limit."""


class AdapterHTTPError(AdapterError):
    """An AI endpoint answered with an HTTP error status (``status``; ``retry_after``: the
    seconds its Retry-After header asked for, if any)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        adapter: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(message, adapter=adapter)


class LocalAIError(AdapterError):
    """The bundled local model server could not be found, started or stopped."""


class LocalAIMissingError(LocalAIError):
    """The ``local-ai`` extra (llama.cpp's server and the SmolLM2 model) is not installed."""


class RoundError(GatewayError):
    """A convergence round cannot be set up or used (bad parameters, wrong call order)."""


class ConvergeMessageError(ProtocolError):
    """A convergence message that is malformed, wrongly signed or not allowed now."""


class NotParticipantError(ConvergeMessageError):
    """A convergence message from a peer that is not a participant of the round."""


# --- memory ------------------------------------------------------------------


class EntryError(ProtocolError):
    """A memory entry that is refused; ``reason`` is the counted rejection code.

    Codes: ``malformed``, ``oversized``, ``bad_signature``, ``fork``,
    ``broken_chain``, ``wrong_space``, ``held_full``.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)

    @property
    def code(self) -> str:
        return f"entry_{self.reason}"


class ForkError(EntryError):
    """A second, different entry at an (author, seq) that is already stored."""


class StoreError(StateError):
    """The memory store (SQLite) cannot be opened, read or written."""


class EmbeddingError(StateError):
    """The embedding model (search by meaning) cannot be found, loaded or run."""


class SyncError(ProtocolError):
    """A memory sync message that is out of order or names something unknown."""


# --- circles -------------------------------------------------------------------


class CircleError(ProtocolError):
    """A circle message that is refused; ``reason`` names what was wrong.

    Reasons: ``truncated``, ``trailing``, ``oversized``, ``version``, ``unknown_type``,
    ``malformed``, ``bad_signature``, ``wrong_circle``, ``invalid``.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)

    @property
    def code(self) -> str:
        return f"circle_{self.reason}"


class CircleStateError(GatewayError):
    """A circle replica's snapshot that cannot be restored, or a call it cannot take now
    (a proposal from a replica that is not a member, a bad genesis)."""


# --- storage -------------------------------------------------------------------


class DatabaseError(StateError):
    """The node's SQLite database cannot be opened, migrated, read or written."""


# --- contacts --------------------------------------------------------------------


class InviteError(GatewayError):
    """An invite that is refused; ``reason`` says why.

    Reasons: ``malformed``, ``version``, ``bad_signature``, ``expired``,
    ``reused``, ``self``, ``duplicate``, ``unknown``.
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(detail)

    @property
    def code(self) -> str:
        return f"invite_{self.reason}"


class ContactError(GatewayError):
    """A contact that does not exist, or a name that matches more than one contact."""


class ServiceError(GatewayError):
    """The system service (systemd unit, service user) cannot be installed or removed."""


# --- link ----------------------------------------------------------------------


class LinkError(GatewayError):
    """A link cannot do what was asked: unknown or refused channel, oversized message."""


class QueueFullError(LinkError):
    """A bounded send queue is full (backpressure): try again after it drains."""


# --- local commands --------------------------------------------------------------


class ApiError(GatewayError):
    """The running node's local API refused a request or could not be reached.

    ``api_code`` is the code the API answered with (``not_found``, ``invite_expired``...);
    the CLI shows it as this error's code.
    """

    def __init__(self, message: str, *, api_code: str | None = None) -> None:
        self.api_code = api_code
        super().__init__(message)

    @property
    def code(self) -> str:
        return self.api_code or class_code(type(self))


class PingError(GatewayError):
    """An onion could not be reached through tor (``gateway ping``)."""


# --- boundary mapping ----------------------------------------------------------


@contextlib.contextmanager
def map_exceptions(mapping: Mapping[type[BaseException], type[GatewayError]]) -> Iterator[None]:
    """Re-raise library exceptions as gateway errors at an I/O boundary.

    ``mapping`` goes from a library exception class to the gateway error class
    to raise in its place; the first matching entry wins and the original is
    chained as ``__cause__``. Gateway errors pass through unchanged.
    """
    try:
        yield
    except GatewayError:
        raise
    except Exception as exc:
        for from_exc, to_exc in mapping.items():
            if isinstance(exc, from_exc):
                raise to_exc(str(exc) or type(exc).__name__) from exc
        raise
