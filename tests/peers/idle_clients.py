#!/usr/bin/env python3
"""Many TCP clients that each prove the echo service answers, then stay connected and idle.

Opens --count connections to --host:--port, --batch at a time; on each sends one byte and
waits for it to come back. Prints {"event": "held", "count": N, "seconds": S} once all are
connected and echoed (or {"event": "error", ...} and exits). Then waits for a line on stdin:
"check" echoes one byte on every connection again and prints {"event": "checked",
"count": N, "closed": K} (K: connections the server had closed); "close" (or EOF) closes
them all and prints {"event": "closed", "count": N}.
"""
import argparse
import json
import resource
import selectors
import socket
import sys
import time


def emit(**fields):
    print(json.dumps(fields), flush=True)


def echo_all(socks, timeout):
    """Sends b"x" on every socket and reads it back; returns how many the server closed."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.sendall(b"x")
        sel.register(s, selectors.EVENT_READ)
    closed = 0
    waiting = len(socks)
    deadline = time.monotonic() + timeout
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("%d of %d echoes did not come back" % (waiting, len(socks)))
        for key, _ in sel.select(left):
            try:
                data = key.fileobj.recv(16)
            except ConnectionError:
                data = b""
            if data != b"x":
                closed += 1
            sel.unregister(key.fileobj)
            waiting -= 1
    sel.close()
    return closed


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.count + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    socks = []
    started = time.monotonic()
    try:
        while len(socks) < args.count:
            batch = []
            for _ in range(min(args.batch, args.count - len(socks))):
                s = socket.socket(family, socket.SOCK_STREAM)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(args.timeout)
                s.connect((args.host, args.port))
                batch.append(s)
            closed = echo_all(batch, args.timeout)
            socks.extend(batch)
            if closed:
                emit(event="error", error="the server closed %d of a batch of %d" % (closed, len(batch)),
                     connected=len(socks))
                return
    except (OSError, TimeoutError) as e:
        emit(event="error", error=str(e), connected=len(socks))
        return
    emit(event="held", count=len(socks), seconds=round(time.monotonic() - started, 3))

    for line in sys.stdin:
        command = line.strip()
        if command == "check":
            try:
                closed = echo_all(socks, args.timeout)
            except (OSError, TimeoutError) as e:
                emit(event="error", error=str(e))
                return
            emit(event="checked", count=len(socks), closed=closed)
        elif command == "close":
            break
    for s in socks:
        s.close()
    emit(event="closed", count=len(socks))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
