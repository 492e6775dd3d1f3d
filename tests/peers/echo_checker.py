#!/usr/bin/env python3
"""TCP server that checks an echo: sends random bytes to its one client, reads them back.

Listens on --host:--port and prints {"event": "listening", "host": H, "port": P}; accepts
one connection and prints {"event": "accept", "peer": "ip:port"}. Then it waits for a line
"go" on stdin (the harness sends it once the client's side is ready to echo), sends --bytes
random bytes while reading what comes back, and prints
{"event": "checked", "sent": N, "received": M, "match": true|false, "seconds": S}
("match": the bytes came back exactly, in order; it stops reading after N bytes, or when the
client closes, resets or is silent for --timeout seconds). Then it waits for the client to
close and prints {"event": "closed", "how": "eof"|"reset"|"timeout", "extra": K} (K: bytes
received after the N), and exits when stdin reaches EOF.
"""
import argparse
import json
import os
import selectors
import socket
import sys
import time

CHUNK = 64 * 1024


def emit(**fields):
    print(json.dumps(fields), flush=True)


def read_line(stdin_fd):
    line = b""
    while not line.endswith(b"\n"):
        more = os.read(stdin_fd, 1)
        if not more:
            return None
        line += more
    return line.decode().strip()


def exchange(sock, payload, timeout):
    """Sends payload while reading the echo; returns what came back, how the exchange ended
    early (None: it did not) and how many bytes were sent."""
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    back = bytearray()
    offset = 0
    deadline = time.monotonic() + timeout
    while len(back) < len(payload):
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(back), "timeout", offset
        events = sel.select(left)
        for _, mask in events:
            if mask & selectors.EVENT_WRITE and offset < len(payload):
                try:
                    offset += sock.send(payload[offset:offset + CHUNK])
                except BlockingIOError:
                    pass
                except ConnectionError:
                    return bytes(back), "reset", offset
                if offset == len(payload):
                    sel.modify(sock, selectors.EVENT_READ)
            if mask & selectors.EVENT_READ:
                try:
                    chunk = sock.recv(CHUNK)
                except BlockingIOError:
                    continue
                except ConnectionError:
                    return bytes(back), "reset", offset
                if not chunk:
                    return bytes(back), "eof", offset
                back += chunk
                deadline = time.monotonic() + timeout
    sel.close()
    return bytes(back), None, offset


def wait_close(sock, stdin_fd, timeout):
    """Reads until the client closes; returns how and the bytes that came meanwhile."""
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, "sock")
    sel.register(stdin_fd, selectors.EVENT_READ, "stdin")
    extra = 0
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "timeout", extra
        for key, _ in sel.select(left):
            if key.data == "stdin":
                if not os.read(stdin_fd, 4096):
                    return "stdin-closed", extra
                continue
            try:
                chunk = sock.recv(CHUNK)
            except BlockingIOError:
                continue
            except ConnectionError:
                return "reset", extra
            if not chunk:
                return "eof", extra
            extra += len(chunk)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bytes", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    listener.listen(1)
    host, port = listener.getsockname()[:2]
    emit(event="listening", host=host, port=port)
    listener.settimeout(args.timeout)
    sock, peer = listener.accept()
    listener.close()
    emit(event="accept", peer="%s:%d" % (peer[0], peer[1]))

    stdin_fd = sys.stdin.fileno()
    line = read_line(stdin_fd)
    if line != "go":
        return
    payload = os.urandom(args.bytes)
    started = time.monotonic()
    back, ended, sent = exchange(sock, payload, args.timeout)
    emit(event="checked", sent=sent, received=len(back), match=back == payload,
         ended=ended, seconds=round(time.monotonic() - started, 4))
    how, extra = wait_close(sock, stdin_fd, args.timeout)
    emit(event="closed", how=how, extra=extra)
    sock.close()
    # Stay until the harness closes stdin.
    while os.read(stdin_fd, 4096):
        pass


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
