"""Shared constants and helpers for the interop suite (no fixtures here)."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import os
import re
import socket
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import quote

import requests
from azure.storage.blob._shared.constants import X_MS_VERSION

TARGET = os.environ.get("INTEROP_TARGET", "vaultsim").strip().lower() or "vaultsim"

ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# The version the pinned SDK sends by default (12.31.x -> 2026-10-06).
SDK_API_VERSION = X_MS_VERSION

# Client settings shared by every SDK client in the suite: no silent retries (a failing
# server must show as a failure, not as a slow success) and bounded timeouts.
CLIENT_KWARGS = dict(retry_total=0, connection_timeout=10, read_timeout=60)

KiB = 1024
MiB = 1024 * 1024

SNAPSHOT_ID_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")


def unique(prefix: str = "c") -> str:
    """A fresh, valid container (or blob) name."""
    return f"{prefix}{uuid.uuid4().hex[:20]}"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def pattern(n: int, seed: int = 0) -> bytes:
    """Deterministic, non-zero, non-repeating-per-page bytes (easy to diff)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


def assert_bytes_equal(got: bytes, want: bytes, what: str = "content") -> None:
    """Byte comparison that reports the first difference instead of dumping megabytes."""
    got = bytes(got)
    want = bytes(want)
    if got == want:
        return
    first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    raise AssertionError(
        f"{what} differs: len(got)={len(got)} len(want)={len(want)}; first difference at byte {first}: "
        f"got {got[first:first + 16].hex()} want {want[first:first + 16].hex()}"
    )


def merge_ranges(ranges) -> list[tuple[int, int]]:
    """Coalesce inclusive (start, end) ranges that overlap or touch.

    Azure does not promise how adjacent page ranges are merged, so comparisons of
    page-range lists are made on the coalesced form.
    """
    pairs = []
    for r in ranges:
        if isinstance(r, dict):
            pairs.append((int(r["start"]), int(r["end"])))
        elif hasattr(r, "start"):
            pairs.append((int(r.start), int(r.end)))
        else:
            pairs.append((int(r[0]), int(r[1])))
    pairs.sort()
    out: list[tuple[int, int]] = []
    for s, e in pairs:
        if out and s <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def describe(resp: requests.Response) -> str:
    body = resp.content[:1500]
    headers = "\n".join(f"  {k}: {v}" for k, v in resp.headers.items())
    return f"{resp.request.method} {resp.request.url}\n-> HTTP {resp.status_code}\n{headers}\n  body: {body!r}"


def assert_common_headers(resp: requests.Response) -> None:
    """Every Blob service response carries x-ms-request-id, x-ms-version and Date."""
    h = resp.headers
    assert h.get("x-ms-request-id"), f"missing x-ms-request-id\n{describe(resp)}"
    # Azurite leaves x-ms-version off its error responses; Azure (and vaultsim) must not.
    if not (TARGET == "azurite" and resp.status_code >= 400):
        assert h.get("x-ms-version"), f"missing x-ms-version\n{describe(resp)}"
    assert h.get("Date"), f"missing Date\n{describe(resp)}"
    parsed = email.utils.parsedate_to_datetime(h["Date"])
    assert parsed.tzinfo is not None and h["Date"].endswith("GMT"), f"Date is not RFC 1123 GMT: {h['Date']!r}"
    skew = abs((parsed - dt.datetime.now(dt.timezone.utc)).total_seconds())
    assert skew < 300, f"Date {h['Date']!r} is {skew:.0f}s away from now"


def error_body(resp: requests.Response) -> ET.Element:
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.startswith("application/xml"), f"error Content-Type is {ctype!r}\n{describe(resp)}"
    try:
        root = ET.fromstring(resp.content)
    except ET.ParseError as e:  # pragma: no cover - failure path
        raise AssertionError(f"error body is not XML ({e})\n{describe(resp)}") from None
    return root


def assert_azure_error(resp: requests.Response, status: int, code: str) -> ET.Element | None:
    """Status, x-ms-error-code header, and (except for HEAD) an <Error><Code> XML body that agrees."""
    assert resp.status_code == status, f"expected HTTP {status} {code}\n{describe(resp)}"
    assert resp.headers.get("x-ms-error-code") == code, f"expected x-ms-error-code {code}\n{describe(resp)}"
    assert_common_headers(resp)
    if resp.request.method == "HEAD":
        return None
    root = error_body(resp)
    assert root.tag == "Error", f"root element is <{root.tag}>\n{describe(resp)}"
    assert root.findtext("Code") == code, f"<Code> is {root.findtext('Code')!r}\n{describe(resp)}"
    assert root.find("Message") is not None, f"no <Message>\n{describe(resp)}"
    return root


def assert_error_format(resp: requests.Response) -> str:
    """Any 4xx/5xx: the header and the XML body carry the same non-empty code. Returns it."""
    assert resp.status_code >= 400, describe(resp)
    code = resp.headers.get("x-ms-error-code")
    assert code, f"no x-ms-error-code header\n{describe(resp)}"
    assert_common_headers(resp)
    if resp.request.method != "HEAD":
        root = error_body(resp)
        assert root.tag == "Error" and root.findtext("Code") == code, describe(resp)
    return code


# --------------------------------------------------------------------------------------------
# Hand-made Service SAS (for signed versions the SDK cannot produce)


def service_sas(
    *,
    sv: str,
    sr: str,
    sp: str,
    canon_path: str,
    se: str = "",
    st: str = "",
    si: str = "",
    sip: str = "",
    spr: str = "",
    snapshot: str = "",
    key: str = ACCOUNT_KEY,
    account: str = ACCOUNT,
) -> tuple[str, str]:
    """Return (query string, string-to-sign) for a service SAS in the layout of `sv`.

    canon_path is "container" or "container/blob" (unencoded).
    """
    if sv >= "2015-02-21":
        canon = f"/blob/{account}/{canon_path}"
    else:
        canon = f"/{account}/{canon_path}"
    rs = ["", "", "", "", ""]  # rscc rscd rsce rscl rsct
    if sv >= "2020-12-06":
        fields = [sp, st, se, canon, si, sip, spr, sv, sr, snapshot, ""] + rs
    elif sv >= "2018-11-09":
        fields = [sp, st, se, canon, si, sip, spr, sv, sr, snapshot] + rs
    elif sv >= "2015-04-05":
        fields = [sp, st, se, canon, si, sip, spr, sv] + rs
    elif sv >= "2013-08-15":
        fields = [sp, st, se, canon, si, sv] + rs
    else:
        raise ValueError(sv)
    sts = "\n".join(fields)
    sig = base64.b64encode(hmac.new(base64.b64decode(key), sts.encode(), hashlib.sha256).digest()).decode()
    params = [("sv", sv), ("sr", sr), ("sp", sp)]
    for name, value in (("st", st), ("se", se), ("si", si), ("sip", sip), ("spr", spr)):
        if value:
            params.append((name, value))
    params.append(("sig", sig))
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in params), sts


def sas_params(token: str) -> list[tuple[str, str]]:
    return [tuple(p.split("=", 1)) for p in token.lstrip("?").split("&")]  # type: ignore[misc]


def sas_replace(token: str, name: str, value: str) -> str:
    """Replace one (already URL-encoded) field of a SAS token, keeping the signature."""
    out = []
    found = False
    for k, v in sas_params(token):
        if k == name:
            v = value
            found = True
        out.append(f"{k}={v}")
    assert found, f"{name} not in {token}"
    return "&".join(out)


def tamper_signature(token: str) -> str:
    from urllib.parse import unquote

    sig = dict(sas_params(token))["sig"]
    raw = bytearray(base64.b64decode(unquote(sig)))
    raw[0] ^= 0x01
    return sas_replace(token, "sig", quote(base64.b64encode(bytes(raw)).decode(), safe=""))


# --------------------------------------------------------------------------------------------
# Raw HTTP


def raw_request(method: str, url: str, *, headers=None, data=None, version: str | None = SDK_API_VERSION, timeout=60):
    h = {"x-ms-date": email.utils.formatdate(usegmt=True)}
    if version:
        h["x-ms-version"] = version
    h.update(headers or {})
    return requests.request(method, url, headers=h, data=data, timeout=timeout)


def send_truncated_body(port: int, method: str, path_and_query: str, headers: dict, body: bytes, announced: int):
    """Send a request whose Content-Length promises `announced` bytes, send only `body`, then
    half-close. Returns (status or None if the connection closed without a response, raw bytes)."""
    lines = [f"{method} {path_and_query} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {announced}",
             "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        s.sendall(head + body)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise AssertionError("the server neither answered nor closed the connection within 20 s "
                                     "after the client half-closed a short body") from None
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        s.close()
    data = b"".join(chunks)
    if not data:
        return None, data
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    assert m, f"not an HTTP response: {data[:200]!r}"
    return int(m.group(1)), data


def random_bytes(n: int) -> bytes:
    return os.urandom(n)
