"""nginx in front of several ``vault serve`` replicas, as docs/deployment.md configures it:
TLS terminated with a certificate this module makes (self-signed, for 127.0.0.1), round-robin
over the replicas, request and response bodies streamed rather than buffered, and the client's
address passed in ``X-Forwarded-For`` (set, never appended to, so a client cannot forge it).

The proxy talks to the replicas from ``PROXY_ADDRESS`` (127.0.0.2, another loopback address),
so that a replica configured to trust only that address can be shown to ignore the same header
from a client that connects to it directly from 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import datetime
import getpass
import ipaddress
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.server import free_port

__all__ = ["PROXY_ADDRESS", "Nginx", "nginx_binary", "start_nginx", "stop_nginx"]

PROXY_ADDRESS = "127.0.0.2"
_START_SECONDS = 30


def nginx_binary() -> str | None:
    """The nginx program, if installed (Debian puts it in /usr/sbin, off a user's PATH)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


@dataclass
class Nginx:
    """A running nginx: its HTTPS address, the certificate clients must trust, and the
    directory where it would spool request bodies if it buffered them."""

    process: subprocess.Popen[bytes]
    base_url: str
    certificate: Path
    body_temp: Path
    error_log: Path

    def client(self, *, local_address: str | None = None, **kwargs: Any) -> httpx.Client:
        """A client that trusts this proxy's certificate, connecting from ``local_address``
        (another loopback address, say) if given."""
        trust = ssl.create_default_context(cafile=str(self.certificate))
        transport = httpx.HTTPTransport(verify=trust, local_address=local_address)
        return httpx.Client(base_url=self.base_url, transport=transport, **kwargs)

    def spooled(self) -> list[str]:
        """Every file under nginx's body spool, including those its processes hold open after
        unlinking them (nginx removes a spool file as soon as it has made it): empty as long
        as request bodies stream through."""
        found = [str(path) for path in self.body_temp.rglob("*") if path.is_file()]
        for process in [
            psutil.Process(self.process.pid),
            *psutil.Process(self.process.pid).children(),
        ]:
            fd_dir = Path(f"/proc/{process.pid}/fd")
            with contextlib.suppress(OSError):
                for fd in fd_dir.iterdir():
                    with contextlib.suppress(OSError):
                        target = os.readlink(fd)
                        if target.startswith(str(self.body_temp)):
                            found.append(target)
        return found


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "proxy.crt", directory / "proxy.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _config(directory: Path, port: int, upstreams: Sequence[str], cert: Path, key: Path) -> str:
    servers = "\n".join(
        f"    server {upstream} max_fails=1 fail_timeout=5s;" for upstream in upstreams
    )
    temp = {name: directory / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    # `user` matters only when nginx starts as root (CI): its workers then stay this user, who
    # owns the spool directories; otherwise nginx ignores it.
    return f"""
user {getpass.getuser()};
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {temp["body"]};
  proxy_temp_path {temp["proxy"]};
  fastcgi_temp_path {temp["fastcgi"]};
  uwsgi_temp_path {temp["uwsgi"]};
  scgi_temp_path {temp["scgi"]};
  upstream vault {{
{servers}
    keepalive 32;
  }}
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    client_max_body_size 0;
    location / {{
      proxy_pass http://vault;
      proxy_bind {PROXY_ADDRESS};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto https;
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_read_timeout 300s;
      proxy_send_timeout 300s;
      proxy_next_upstream error timeout;
    }}
  }}
}}
"""


def start_nginx(directory: Path, upstreams: Sequence[str]) -> Nginx:
    """nginx serving HTTPS on a free port of 127.0.0.1 in front of ``upstreams``
    (``host:port`` each), with its files in ``directory``; returns once it answers."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (scripts/system-deps installs it)")
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = _certificate(directory)
    port = free_port()
    conf = directory / "nginx.conf"
    conf.write_text(_config(directory, port, upstreams, cert, key))
    error_log = directory / "error.log"
    # -e: messages before the configuration is read go to this file, not /var/log/nginx.
    command = [binary, "-p", str(directory), "-c", str(conf), "-e", str(error_log)]
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    proxy = Nginx(process, f"https://127.0.0.1:{port}", cert, directory / "body", error_log)
    deadline = time.monotonic() + _START_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {error_log.read_text(errors='replace')[-2000:]}")
        try:
            with proxy.client(timeout=2.0) as client:
                client.get("/healthz")
            return proxy
        except httpx.TransportError:
            if time.monotonic() > deadline:
                stop_nginx(proxy)
                raise RuntimeError("nginx did not answer in time") from None
            time.sleep(0.1)


def stop_nginx(proxy: Nginx) -> None:
    """SIGQUIT would wait for open connections; SIGTERM ends nginx at once."""
    proxy.process.terminate()
    try:
        proxy.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proxy.process.kill()
        proxy.process.wait()
