#!/usr/bin/env python3
"""TCP server for DISCONNECT: accepts one connection and watches how it ends.

Reads until the driver's side ends. At an orderly end of stream it prints
  {"event": "eof", "received": N, "hex": "<the bytes>"}
then, since its own side is still open, sends --reply and closes, printing
  {"event": "replied", "sent": N}.
When the connection is reset instead it prints {"event": "reset", "received": N}.
Prints {"event": "listening", "port": P} first and {"event": "accept", "peer": ...} on accept.
"""
import argparse
import json
import select
import socket
import sys


def emit(**fields):
    print(json.dumps(fields), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--reply", default="after-eof")
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.bind((args.host, 0))
    listener.listen(1)
    emit(event="listening", port=listener.getsockname()[1])
    ready, _, _ = select.select([listener, sys.stdin], [], [], args.timeout)
    if listener not in ready:
        return
    sock, addr = listener.accept()
    emit(event="accept", peer="%s:%d" % addr[:2])
    sock.settimeout(args.timeout)
    got = bytearray()
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    except ConnectionError:
        emit(event="reset", received=len(got))
        return
    except socket.timeout:
        emit(event="timeout", received=len(got))
        return
    emit(event="eof", received=len(got), hex=bytes(got).hex())
    reply = args.reply.encode()
    try:
        sock.sendall(reply)
        sock.shutdown(socket.SHUT_WR)
        emit(event="replied", sent=len(reply))
    except OSError as err:
        emit(event="reply_failed", error=str(err))
    # Wait for the driver to close its endpoint (or stdin EOF) before closing.
    select.select([sock, sys.stdin], [], [], args.timeout)
    sock.close()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
