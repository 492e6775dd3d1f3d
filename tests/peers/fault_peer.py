#!/usr/bin/env python3
"""TCP peer for the fault matrix: a server whose connections misbehave on purpose.

Modes (--mode):
  chatter  reads and drops everything; writes one byte b"x" every 50 ms (a connection that
           always has data for a receive and always takes sends)
  reset    waits up to --after seconds for the first bytes, then resets the connection:
           SO_LINGER(1, 0) and close, so the kernel sends an RST and no FIN
  silent   accepts and then does nothing: never reads, never writes, never closes (the
           driver's side sees neither data nor FIN; with a small receive buffer its sends stall)

Prints one JSON object per line on stdout:
  {"event": "listening", "host": H, "port": P}
  {"event": "accept", "peer": "ip:port"}
  {"event": "reset", "peer": "ip:port"}
Exits when its stdin reaches end of file (the harness holds the other end of that pipe).
The harness may SIGSTOP it (a peer that vanished without FIN) and SIGCONT it.
"""
import argparse
import json
import socket
import struct
import sys
import threading
import time

LOCK = threading.Lock()
HELD = []


def emit(**fields):
    with LOCK:
        print(json.dumps(fields), flush=True)


def chatter(sock):
    def drain():
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass

    threading.Thread(target=drain, daemon=True).start()
    try:
        while True:
            sock.sendall(b"x")
            time.sleep(0.05)
    except OSError:
        pass


def reset(sock, peer, after):
    sock.settimeout(after)
    try:
        sock.recv(65536)
    except OSError:
        pass
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    emit(event="reset", peer=peer)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", choices=["chatter", "reset", "silent"], default="chatter")
    ap.add_argument("--after", type=float, default=0.2, help="reset: seconds to wait for data")
    args = ap.parse_args()
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.mode == "silent":
        # Inherited by accepted sockets: the stall shows after a few KiB, not megabytes.
        server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    server.bind((args.host, args.port))
    server.listen(64)
    emit(event="listening", host=args.host, port=server.getsockname()[1])

    def accept_loop():
        while True:
            try:
                sock, addr = server.accept()
            except OSError:
                return
            peer = f"{addr[0]}:{addr[1]}"
            emit(event="accept", peer=peer)
            if args.mode == "chatter":
                threading.Thread(target=chatter, args=(sock,), daemon=True).start()
            elif args.mode == "reset":
                threading.Thread(target=reset, args=(sock, peer, args.after), daemon=True).start()
            else:
                HELD.append(sock)

    threading.Thread(target=accept_loop, daemon=True).start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
