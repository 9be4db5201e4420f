"""Keep-alive requests per second that the IMDS simulator serves, on 127.0.0.1 only.

Two figures: a bare ``httpx.Client`` (``trust_env=False``) doing token-authenticated GETs over one
keep-alive connection, which is what client benchmarks see; and a raw socket client sending the
same request, which shows the server's own capacity without httpx's per-request cost. The server
answers in one segment on a ``TCP_NODELAY`` socket, so neither figure has Nagle/delayed-ACK
stalls (those would show as ~25 requests/s). Run:
``python benchmarks/simulator_throughput.py [--requests N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import socket
import time
from urllib.parse import urlsplit

import httpx

from imdsclient.testing import IMDSSimulator

__all__ = ["main", "measure_httpx", "measure_raw"]

PATH = "/latest/meta-data/instance-id"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"


def _loopback_only(sim: IMDSSimulator) -> None:
    if urlsplit(sim.url).hostname != "127.0.0.1":
        raise SystemExit("refusing to benchmark anything but 127.0.0.1")


def measure_httpx(requests: int) -> float:
    """Requests/s for ``requests`` GETs with a token through one httpx keep-alive connection."""
    with IMDSSimulator(http_tokens="required", log_limit=1000, keep_alive=True) as sim:
        _loopback_only(sim)
        with httpx.Client(base_url=sim.url, trust_env=False, timeout=5) as client:
            token = client.put("/latest/api/token", headers={TTL_HEADER: "600"})
            headers = {"X-aws-ec2-metadata-token": token.raise_for_status().text}
            for _ in range(200):  # warm up the connection and the code paths
                client.get(PATH, headers=headers).raise_for_status()
            start = time.perf_counter()
            for _ in range(requests):
                client.get(PATH, headers=headers).raise_for_status()
            return requests / (time.perf_counter() - start)


def measure_raw(requests: int) -> float:
    """Requests/s for the same GET written on a raw keep-alive socket (server capacity)."""
    with IMDSSimulator(log_limit=1000, keep_alive=True) as sim:
        _loopback_only(sim)
        request = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n".encode()
        body = b"i-1234567890abcdef0"
        with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            start = time.perf_counter()
            for _ in range(requests):
                conn.sendall(request)
                answer = conn.recv(65536)
                while not answer.endswith(body):
                    answer += conn.recv(65536)
            return requests / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="IMDS simulator keep-alive throughput")
    parser.add_argument("--requests", type=int, default=5000, help="GETs to time (default 5000)")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many rounds")
    args = parser.parse_args(argv)
    detail = f"{args.requests} GETs, best of {args.rounds}"
    best = max(measure_httpx(args.requests) for _ in range(args.rounds))
    print(f"simulator via httpx.Client: {best:,.0f} keep-alive requests/s ({detail})")
    best = max(measure_raw(args.requests) for _ in range(args.rounds))
    print(f"simulator via raw socket:   {best:,.0f} keep-alive requests/s ({detail})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
