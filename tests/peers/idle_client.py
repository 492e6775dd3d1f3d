#!/usr/bin/env python3
"""One TCP client that proves the echo service answers, then stays connected and idle.

Sends b"ping", waits for it to come back, prints {"event": "connected", "local": "ip:port"},
then waits. When the server side closes the connection it prints
{"event": "closed", "how": "eof"|"reset"} and exits; it also exits when stdin reaches EOF.
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
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()

    sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
    sock.sendall(b"ping")
    got = b""
    while len(got) < 4:
        chunk = sock.recv(4 - len(got))
        if not chunk:
            emit(event="closed", how="eof", before_echo=True)
            return
        got += chunk
    if got != b"ping":
        emit(event="error", error="echo returned %r" % got)
        return
    emit(event="connected", local="%s:%d" % sock.getsockname())

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
                    data = sock.recv(4096)
                except BlockingIOError:
                    continue
                except ConnectionError:
                    emit(event="closed", how="reset")
                    return
                if not data:
                    emit(event="closed", how="eof")
                    return


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
