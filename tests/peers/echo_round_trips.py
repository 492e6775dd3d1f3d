#!/usr/bin/env python3
"""Times round trips through an echo service: one TCP connection, messages of each --sizes
(bytes), --repeats times each; a round trip is sending the message and reading all of it back.

Sets TCP_NODELAY on its own socket, so any wait it sees is the echo side's. For each size it
prints {"event": "size", "bytes": N, "repeats": R, "min_ms": A, "median_ms": M, "max_ms": X,
"over_ms": K} (K: round trips slower than --slow-ms) and at the end {"event": "done"}.
The data is checked: a byte that does not come back as sent ends the run with
{"event": "mismatch", "bytes": N, "at": i} and exit status 1.
"""
import argparse
import json
import os
import socket
import statistics
import time


def emit(**fields):
    print(json.dumps(fields), flush=True)


def round_trip(sock, payload, view):
    """Sends payload, reads len(payload) bytes into view; returns seconds taken."""
    started = time.perf_counter()
    sock.sendall(payload)
    got = 0
    while got < len(payload):
        n = sock.recv_into(view[got:len(payload)])
        if n == 0:
            raise ConnectionError("the echo side closed the connection")
        got += n
    return time.perf_counter() - started


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--sizes", default="1,64,1024,16384,65536,262144,1048576")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--slow-ms", type=float, default=30.0)
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()

    sizes = [int(s) for s in args.sizes.split(",")]
    sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = bytearray(max(sizes))
    view = memoryview(buffer)
    for size in sizes:
        payload = os.urandom(size)
        times = []
        for _ in range(args.repeats):
            times.append(round_trip(sock, payload, view) * 1000.0)
            if view[:size] != payload:
                at = next(i for i in range(size) if buffer[i] != payload[i])
                emit(event="mismatch", bytes=size, at=at)
                raise SystemExit(1)
        emit(event="size", bytes=size, repeats=len(times), min_ms=round(min(times), 3),
             median_ms=round(statistics.median(times), 3), max_ms=round(max(times), 3),
             over_ms=sum(1 for t in times if t > args.slow_ms))
    sock.close()
    emit(event="done")


if __name__ == "__main__":
    main()
