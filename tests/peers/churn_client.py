#!/usr/bin/env python3
"""Connection churn against the fuzzer's listeners: the Linux side of `cargo xtask fuzz`.

Until its stdin reaches end of file, it picks one of --ports on --host, connects (most fail:
nothing listens there at the moment), sends a few random bytes, maybe reads a little, and
ends the connection gracefully, with a reset (SO_LINGER 0), or by leaving it open a moment;
it also sends UDP datagrams to the same ports. Seeded (--seed).

Prints {"event": "started"} first and at the end
  {"event": "done", "attempts": N, "connected": C, "resets": R, "datagrams": D}
"""
import argparse
import json
import random
import socket
import struct
import sys
import threading
import time


def emit(**fields):
    print(json.dumps(fields), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ports", required=True, help="comma-separated")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    ports = [int(p) for p in args.ports.split(",") if p]
    rng = random.Random(args.seed)
    stop = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    emit(event="started")
    attempts = connected = resets = datagrams = 0
    held = []
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while not stop.is_set():
        port = rng.choice(ports)
        if rng.random() < 0.3:
            try:
                udp.sendto(rng.randbytes(rng.randint(1, 1400)), (args.host, port))
                datagrams += 1
            except OSError:
                pass
        attempts += 1
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(0.5)
        try:
            sock.connect((args.host, port))
        except OSError:
            sock.close()
            time.sleep(0.005)
            continue
        connected += 1
        try:
            sock.sendall(rng.randbytes(rng.randint(1, 8192)))
            if rng.random() < 0.5:
                sock.settimeout(0.05)
                try:
                    sock.recv(65536)
                except OSError:
                    pass
        except OSError:
            pass
        how = rng.random()
        if how < 0.4:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            resets += 1
        elif how < 0.8:
            sock.close()
        else:
            held.append(sock)
        if len(held) > 16:
            held.pop(0).close()
    for sock in held:
        sock.close()
    emit(event="done", attempts=attempts, connected=connected, resets=resets,
         datagrams=datagrams)


if __name__ == "__main__":
    main()
