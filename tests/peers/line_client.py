#!/usr/bin/env python3
"""One TCP client that sends a line, reads a reply of known length, then waits for the close.

Connects to --host:--port, sends --line followed by a newline and prints
{"event": "sent", "local": "ip:port", "bytes": N}; reads until --expect bytes arrived and
prints {"event": "reply", "hex": "..."} (or {"event": "closed", "how": ..., "hex": what came
before} if the server closed first); then waits until the server closes the connection and
prints {"event": "closed", "how": "eof"|"reset"}. It also exits when stdin reaches EOF.
"""
import argparse
import json
import os
import selectors
import socket
import sys


def emit(**fields):
    print(json.dumps(fields), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--line", required=True)
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()

    sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
    data = (args.line + "\n").encode()
    sock.sendall(data)
    local = sock.getsockname()
    emit(event="sent", local="%s:%d" % (local[0], local[1]) if sock.family == socket.AF_INET
         else "[%s]:%d" % (local[0], local[1]), bytes=len(data))

    got = b""
    try:
        while len(got) < args.expect:
            chunk = sock.recv(args.expect - len(got))
            if not chunk:
                emit(event="closed", how="eof", hex=got.hex())
                return
            got += chunk
    except socket.timeout:
        emit(event="timeout", hex=got.hex())
        return
    except ConnectionError:
        emit(event="closed", how="reset", hex=got.hex())
        return
    emit(event="reply", hex=got.hex())

    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, "sock")
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")
    while True:
        for key, _ in sel.select():
            if key.data == "stdin":
                if not os.read(sys.stdin.fileno(), 4096):
                    sock.close()
                    return
            else:
                try:
                    more = sock.recv(4096)
                except BlockingIOError:
                    continue
                except ConnectionError:
                    emit(event="closed", how="reset")
                    return
                if not more:
                    emit(event="closed", how="eof")
                    return
                emit(event="data", hex=more.hex())


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
