"""TLS for the node's few HTTPS clients, and aiohttp without its import-time CA bundles.

aiohttp builds two ``SSLContext`` objects when it is imported, and each loads the
system's CA bundle file (``/etc/ssl/certs/ca-certificates.crt`` on Debian) into
OpenSSL's memory: 1.9 MB of a node's resident memory, measured, for contexts a node
uses only if an AI adapter calls an HTTPS endpoint. :func:`import_aiohttp` imports it
with ``SSL_CERT_FILE`` pointed at an empty file for the length of the import and puts
the environment back at once. aiohttp's contexts then still verify certificates, with
the CA directory (``SSL_CERT_DIR``, hashed links OpenSSL reads one certificate at a time
when a chain needs it); where there is no such directory they trust nothing and refuse
every certificate: they never accept more than before.

The node's own HTTPS client (the OpenAI-compatible adapters) does not rely on them: it
uses :func:`client_context`, made at its first HTTPS request with the process's real
environment, so a CA bundle named by the user in ``SSL_CERT_FILE`` is honoured.
"""

from __future__ import annotations

import os
import ssl
import sys
from functools import cache

_CA_FILE_ENV = "SSL_CERT_FILE"


def import_aiohttp() -> bool:
    """Import aiohttp without loading the CA bundle file into its two default contexts;
    whether this call imported it (False when something already had)."""
    if "aiohttp" in sys.modules:
        return False
    saved = os.environ.get(_CA_FILE_ENV)
    os.environ[_CA_FILE_ENV] = os.devnull
    try:
        import aiohttp.connector  # noqa: F401  (its contexts are built here)
    finally:
        if saved is None:
            del os.environ[_CA_FILE_ENV]
        else:
            os.environ[_CA_FILE_ENV] = saved
    return True


@cache
def client_context() -> ssl.SSLContext:
    """The context HTTPS requests to AI providers use: certificate and host name checked
    against the system's CAs (or those ``SSL_CERT_FILE``/``SSL_CERT_DIR`` name); made
    once, at first use."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context
