#!/usr/bin/env python3
"""notify_listen.py — a fake systemd NOTIFY_SOCKET for the deploy test.

Binds a unix datagram socket at PATH and appends every message it receives
to LOG (one message per line, newlines inside a message become '|'), until
killed or until LOG's size would pass 1 MiB. Prints 'listening' on stdout
once bound, so the caller can start the program under test.
"""
import os
import socket
import sys

LIMIT = 1 << 20


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: notify_listen.py SOCKET_PATH LOG", file=sys.stderr)
        return 2
    path, log = sys.argv[1], sys.argv[2]
    if os.path.exists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    print("listening", flush=True)
    written = 0
    with open(log, "a", encoding="utf-8") as out:
        while written < LIMIT:
            data = sock.recv(4096)
            line = data.decode("utf-8", "replace").replace("\n", "|") + "\n"
            written += len(line)
            out.write(line)
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
