#!/usr/bin/env python3
"""TCP sink server: reads everything each client sends, hashes it, sends nothing.

The peer of the end-to-end cases that stream a large file out of the kernel (it reports the
SHA-256 of what arrived) and that wait for a receive to time out (it never sends a byte).
Each connection is served by its own thread with blocking reads.

Prints one JSON object per line on stdout:
  {"event": "listening", "host": H, "port": P}
  {"event": "accept", "peer": "ip:port"}
  {"event": "done", "peer": ..., "received": N, "sha256": HEX, "how": "eof"|"reset", "seconds": S}
Exits when its stdin reaches end of file (the harness holds the other end of that pipe).

With --hold it reads nothing (a stalled reader, with a small receive buffer so the kernel
does not hide the stall) until the harness writes the line "release" to its stdin.
"""
import argparse
import hashlib
import json
import socket
import sys
import threading
import time

CHUNK = 1024 * 1024
LOCK = threading.Lock()
RELEASED = threading.Event()


def emit(**fields):
    with LOCK:
        print(json.dumps(fields), flush=True)


def serve(sock, peer):
    digest = hashlib.sha256()
    received = 0
    how = "eof"
    RELEASED.wait()
    started = time.monotonic()
    with sock:
        while True:
            try:
                data = sock.recv(CHUNK)
            except ConnectionError:
                how = "reset"
                break
            if not data:
                break
            digest.update(data)
            received += len(data)
    emit(event="done", peer=peer, received=received, sha256=digest.hexdigest(), how=how,
         seconds=round(time.monotonic() - started, 4))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1", help="127.0.0.1 or ::1")
    ap.add_argument("--port", type=int, default=0, help="0: let the OS choose")
    ap.add_argument("--hold", action="store_true", help="read nothing until stdin says release")
    args = ap.parse_args()
    if not args.hold:
        RELEASED.set()

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.hold:
        # Inherited by accepted sockets; a fixed size also turns receive autotuning off.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    listener.bind((args.host, args.port))
    listener.listen(16)
    host, port = listener.getsockname()[:2]
    emit(event="listening", host=host, port=port)

    def accept_loop():
        while True:
            try:
                sock, addr = listener.accept()
            except OSError:
                return
            peer = "%s:%d" % addr[:2]
            emit(event="accept", peer=peer)
            threading.Thread(target=serve, args=(sock, peer), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    # Until the harness closes our stdin; "release" lets held connections read.
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        if line.strip() == "release":
            RELEASED.set()
    RELEASED.set()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
