#!/usr/bin/env python3
"""TCP echo server: the Linux peer the wsk-rs driver connects out to.

Single-threaded, select-based. It reads whenever data arrives and buffers what it has not
yet written back without limit, so it never stops reading even when the other side is not
receiving (the driver sends a whole file before it starts receiving).

Prints one JSON object per line on stdout:
  {"event": "listening", "host": H, "port": P}
  {"event": "accept", "peer": "ip:port"}
  {"event": "eof" | "reset", "peer": ..., "received": N}      the client closed its side
  {"event": "closed", "peer": ..., "received": N, "sent": N, "how": "eof"|"reset", "seconds": S}
Exits when its stdin reaches end of file (the harness holds the other end of that pipe).
"""
import argparse
import json
import os
import selectors
import socket
import sys
import time

CHUNK = 256 * 1024


def emit(**fields):
    print(json.dumps(fields), flush=True)


class Conn:
    def __init__(self, sock, peer):
        self.sock = sock
        self.peer = peer
        self.pending = bytearray()
        self.received = 0
        self.sent = 0
        self.eof = False
        self.how = None
        self.started = time.monotonic()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1", help="127.0.0.1 or ::1")
    ap.add_argument("--port", type=int, default=0, help="0: let the OS choose")
    args = ap.parse_args()

    sel = selectors.DefaultSelector()
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    listener.listen(128)
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, None)
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")
    host, port = listener.getsockname()[:2]
    emit(event="listening", host=host, port=port)

    def interest(conn):
        events = 0 if conn.eof else selectors.EVENT_READ
        if conn.pending:
            events |= selectors.EVENT_WRITE
        return events

    def finish(conn):
        sel.unregister(conn.sock)
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        conn.sock.close()
        emit(event="closed", peer=conn.peer, received=conn.received, sent=conn.sent,
             how=conn.how, seconds=round(time.monotonic() - conn.started, 4))

    def update(conn):
        if conn.eof and not conn.pending:
            finish(conn)
        else:
            sel.modify(conn.sock, interest(conn), conn)

    while True:
        for key, mask in sel.select(timeout=1.0):
            if key.data == "stdin":
                if not os.read(sys.stdin.fileno(), 4096):
                    return
                continue
            if key.data is None:
                try:
                    sock, addr = listener.accept()
                except BlockingIOError:
                    continue
                sock.setblocking(False)
                conn = Conn(sock, "%s:%d" % addr[:2])
                sel.register(sock, selectors.EVENT_READ, conn)
                emit(event="accept", peer=conn.peer)
                continue
            conn = key.data
            if mask & selectors.EVENT_READ:
                try:
                    data = conn.sock.recv(CHUNK)
                except BlockingIOError:
                    data = None
                except ConnectionError:
                    conn.eof, conn.how, conn.pending = True, "reset", bytearray()
                    emit(event="reset", peer=conn.peer, received=conn.received)
                    update(conn)
                    continue
                if data is not None:
                    if data:
                        conn.received += len(data)
                        conn.pending += data
                    else:
                        conn.eof, conn.how = True, "eof"
                        emit(event="eof", peer=conn.peer, received=conn.received)
            if mask & selectors.EVENT_WRITE and conn.pending:
                try:
                    n = conn.sock.send(conn.pending[:CHUNK])
                    del conn.pending[:n]
                    conn.sent += n
                except BlockingIOError:
                    pass
                except ConnectionError:
                    conn.eof, conn.how, conn.pending = True, "reset", bytearray()
                    emit(event="reset", peer=conn.peer, received=conn.received)
            update(conn)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
