"""gateway.tls: aiohttp imported without its CA bundles, and the adapters' own context.

Each case runs in a new interpreter: whether aiohttp loads the bundle is decided at its
import. A local TLS server on 127.0.0.1 with a certificate from a CA made here tells
whether a context trusts that CA.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: the child: a TLS server on 127.0.0.1, then whether each context verifies it
CHILD = r"""
import asyncio, json, os, ssl, sys
from gateway.tls import client_context, import_aiohttp

first = import_aiohttp()
import aiohttp, aiohttp.connector

async def main():
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(sys.argv[1], sys.argv[2])

    async def answer(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    url = f"https://127.0.0.1:{port}/"

    async def get(tls):
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as s:
                async with s.get(url) as r:
                    return r.status
        except aiohttp.ClientConnectorCertificateError:
            return "refused"

    out = {
        "first": first,
        "again": import_aiohttp(),
        "env": os.environ.get("SSL_CERT_FILE"),
        "aiohttp_cas": aiohttp.connector._SSL_CONTEXT_VERIFIED.cert_store_stats()["x509_ca"],
        "aiohttp_checks": aiohttp.connector._SSL_CONTEXT_VERIFIED.verify_mode == ssl.CERT_REQUIRED,
        "aiohttp_default": await get(True),
        "client_context": await get(client_context()),
        "same_context": client_context() is client_context(),
    }
    server.close()
    print(json.dumps(out))

asyncio.run(main())
"""


def make_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def run_child(tmp_path: Path, ca_file: str | None) -> dict[str, object]:
    import json

    ca, cert, key = make_ca_and_server_cert(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    if ca_file is not None:
        env["SSL_CERT_FILE"] = str(ca) if ca_file == "ca" else ca_file
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(cert), str(key)],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out: dict[str, object] = json.loads(done.stdout)
    return out


def test_aiohttp_loads_no_ca_bundle_but_still_refuses_an_unknown_ca(tmp_path: Path) -> None:
    """The bundle named by SSL_CERT_FILE is not loaded into aiohttp's contexts: they hold
    no CA from it, still require a valid chain, and refuse a certificate they cannot
    verify (nothing is let through that was not before)."""
    out = run_child(tmp_path, "ca")
    assert out["first"] is True and out["again"] is False
    assert out["aiohttp_cas"] == 0
    assert out["aiohttp_checks"] is True
    assert out["aiohttp_default"] == "refused"


def test_the_adapters_context_honours_the_users_ca_bundle(tmp_path: Path) -> None:
    """SSL_CERT_FILE is put back after the import: the context the adapters use, made
    later, trusts the CA it names, and the server it signed answers."""
    out = run_child(tmp_path, "ca")
    assert out["env"] == str(tmp_path / "ca.pem")
    assert out["client_context"] == 200
    assert out["same_context"] is True


def test_without_the_users_bundle_the_test_ca_is_refused_everywhere(tmp_path: Path) -> None:
    """The control: with the system's CAs only, the test CA is trusted by neither context,
    and an unset SSL_CERT_FILE stays unset."""
    out = run_child(tmp_path, None)
    assert out["env"] is None
    assert out["client_context"] == "refused"
    assert out["aiohttp_default"] == "refused"


@pytest.mark.parametrize("socks", [None, "socks5://127.0.0.1:9"])
@pytest.mark.parametrize("scheme", ["https", "http"])
async def test_an_https_adapter_uses_the_nodes_context(scheme: str, socks: str | None) -> None:
    import aiohttp

    from gateway.converge.adapters.openai import OpenAIAdapter
    from gateway.tls import client_context

    adapter = OpenAIAdapter(
        "x", base_url=f"{scheme}://127.0.0.1:9/v1", model="m", socks_proxy=socks
    )
    connector = adapter._connector()
    try:
        assert isinstance(connector, aiohttp.TCPConnector)
        expected = client_context() if scheme == "https" else True
        assert connector._ssl is expected
    finally:
        await connector.close()
