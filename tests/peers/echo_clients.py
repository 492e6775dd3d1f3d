#!/usr/bin/env python3
"""Concurrent TCP clients for an echo service (the driver's in-kernel echo listener).

Each client connects, waits until all clients are connected, then sends its own random data
while a second thread receives the echo; it checks every byte. Prints one JSON line:
  {"event": "done", "clients": N, "ok": K, "bytes_sent": S, "bytes_received": R,
   "seconds": T, "errors": [...]}
Exit status 0 only when every client got exactly its data back.
"""
import argparse
import json
import os
import socket
import threading
import time


def client(index, args, barrier, results):
    data = os.urandom(args.bytes)
    result = {"ok": False, "sent": 0, "received": 0, "error": None}
    results[index] = result
    sock = None
    try:
        sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
    except OSError as err:
        result["error"] = "client %d: connect: %s" % (index, err)
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    if sock is None:
        return
    try:
        sock.settimeout(args.timeout)

        def send():
            try:
                sock.sendall(data)
                result["sent"] = len(data)
            except OSError as err:
                result["error"] = "client %d: send: %s" % (index, err)

        sender = threading.Thread(target=send)
        sender.start()
        got = bytearray()
        while len(got) < len(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        sender.join()
        result["received"] = len(got)
        if result["error"] is None:
            if bytes(got) == data:
                result["ok"] = True
            elif len(got) != len(data):
                result["error"] = "client %d: got %d of %d bytes back" % (index, len(got), len(data))
            else:
                result["error"] = "client %d: data differs" % index
    except OSError as err:
        result["error"] = "client %d: %s" % (index, err)
    finally:
        sock.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--bytes", type=int, default=64 * 1024)
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()

    barrier = threading.Barrier(args.clients, timeout=args.timeout)
    results = [None] * args.clients
    threads = [threading.Thread(target=client, args=(i, args, barrier, results))
               for i in range(args.clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - started
    results = [r or {"ok": False, "sent": 0, "received": 0, "error": "no result"} for r in results]
    ok = sum(1 for r in results if r["ok"])
    errors = [r["error"] for r in results if r["error"]]
    print(json.dumps({
        "event": "done",
        "clients": args.clients,
        "ok": ok,
        "bytes_sent": sum(r["sent"] for r in results),
        "bytes_received": sum(r["received"] for r in results),
        "seconds": round(seconds, 4),
        "errors": errors[:5],
    }), flush=True)
    raise SystemExit(0 if ok == args.clients else 1)


if __name__ == "__main__":
    main()
