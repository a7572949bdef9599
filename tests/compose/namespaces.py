"""Network namespaces for the compose harness, and TCP forwarders between them.

A socket belongs to the network namespace its thread was in when it was created, whatever
the thread does afterwards: `socket_in` switches the calling thread into a namespace for
the one call. So one process can accept in one namespace and connect in another, which is
how published ports (host namespace -> a service's address) and the PostgreSQL service
(its address -> this machine's 127.0.0.1:5432) are played.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import subprocess
import threading
from contextlib import contextmanager

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


@contextmanager
def inside(netns: str):
    """Runs the block's calls in the calling thread with network namespace file `netns`."""
    with open("/proc/thread-self/ns/net") as own, open(netns) as target:
        _setns(target.fileno())
        try:
            yield
        finally:
            _setns(own.fileno())


def socket_in(netns: str) -> socket.socket:
    with inside(netns):
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


# The PostgreSQL wire protocol's first messages: the requests for TLS and GSSAPI
# encryption (answered "N", no), and the 3.0 startup message that names the database.
_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_PROTOCOL_3 = 196608


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed during the startup message")
        data += chunk
    return data


def rename_database(client: socket.socket, databases: dict[str, str]) -> bytes:
    """Reads a PostgreSQL client's opening messages and returns its startup message with the
    database renamed as `databases` maps it (what the postgres container's POSTGRES_DB is
    here: a fresh database of this run)."""
    while True:
        length, code = struct.unpack("!ii", _read_exact(client, 8))
        body = _read_exact(client, length - 8)
        if code in (_SSL_REQUEST, _GSSENC_REQUEST):
            client.sendall(b"N")
            continue
        if code != _PROTOCOL_3:
            return struct.pack("!ii", length, code) + body
        fields = body.split(b"\0")
        for i in range(0, len(fields) - 1, 2):
            if fields[i] == b"database":
                fields[i + 1] = databases.get(fields[i + 1].decode(), fields[i + 1].decode()).encode()
        body = b"\0".join(fields)
        return struct.pack("!ii", len(body) + 8, code) + body


class Forwarder:
    """Accepts on `listen` (an address in netns `listen_ns`) and connects each connection to
    `connect` from netns `connect_ns`; `opening` may rewrite what the client sends first."""

    def __init__(self, listen_ns, listen, connect_ns, connect, opening=None):
        self.connect_ns, self.connect, self.opening = connect_ns, connect, opening
        self.listener = socket_in(listen_ns)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(listen)
        self.listener.listen(64)
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket_in(self.connect_ns)
        try:
            first = self.opening(client) if self.opening else b""
            upstream.connect(self.connect)
            upstream.sendall(first)
        except OSError:
            client.close()
            upstream.close()
            return
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)

    def close(self) -> None:
        self.closed = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        source.close()
        sink.close()
