#!/usr/bin/env python3
"""One TCP client for the discard and source services of the driver's listener.

--send N   sends N random bytes, shuts down its sending side and waits (up to --timeout) for
           the server's end of stream, counting any byte that comes back (discard sends none);
--read N   reads N bytes and checks that byte i is i % 251 (the source pattern), then closes.
Prints one JSON line:
  {"event": "done", "sent": S, "received": R, "pattern_ok": bool|null, "mismatch_at": i|null,
   "how": "eof"|"reset"|"timeout"|"closed", "seconds": T}
Exit status 0 when the transfer finished (the harness judges the figures).
"""
import argparse
import json
import os
import socket
import time


def emit(**fields):
    print(json.dumps(fields), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--send", type=int, default=0)
    ap.add_argument("--read", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()

    started = time.monotonic()
    sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
    sent = received = 0
    pattern_ok = mismatch_at = None
    how = "closed"
    if args.send:
        data = os.urandom(args.send)
        sock.sendall(data)
        sent = len(data)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(5.0)
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    how = "eof"
                    break
                received += len(chunk)
        except socket.timeout:
            how = "timeout"
        except ConnectionError:
            how = "reset"
    if args.read:
        pattern_ok = True
        while received < args.read:
            chunk = sock.recv(min(65536, args.read - received))
            if not chunk:
                how = "eof"
                break
            for offset, byte in enumerate(chunk):
                if byte != (received + offset) % 251:
                    pattern_ok = False
                    mismatch_at = received + offset
                    break
            received += len(chunk)
            if not pattern_ok:
                break
    sock.close()
    emit(event="done", sent=sent, received=received, pattern_ok=pattern_ok,
         mismatch_at=mismatch_at, how=how, seconds=round(time.monotonic() - started, 4))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
