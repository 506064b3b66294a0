#!/usr/bin/env python3
"""api_clients.py — concurrent HTTP clients for test_api.sh.

    api_clients.py URL TOKEN CLIENTS (--each N | --seconds S) PATH...

CLIENTS threads each send GET requests with the bearer token, every one on
a new connection: --each N requests each (client k, request i asks for
PATH[(k * N + i) % len(PATH)]), or for S seconds, a client stopping at its
first refused or reset connection (the server gone). Prints the answers
counted by status (or "refused", "reset", or the exception's name) as one
Python dict literal on the last line; exit 0 (the caller judges).
"""
import collections
import http.client
import sys
import threading
import time
import urllib.parse


def main():
    url, token, clients, mode, amount, *paths = sys.argv[1:]
    if mode not in ("--each", "--seconds") or not paths:
        sys.exit(__doc__)
    u = urllib.parse.urlsplit(url)
    clients, each = int(clients), int(amount) if mode == "--each" else 0
    stop = time.time() + float(amount) if mode == "--seconds" else 0.0
    codes = collections.Counter()
    lock = threading.Lock()

    def ask(path):
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        try:
            c.request("GET", path, headers={"Authorization": "Bearer " + token})
            r = c.getresponse()
            r.read()
            return r.status
        except ConnectionRefusedError:
            return "refused"
        except ConnectionResetError:
            return "reset"
        except Exception as e:  # any other failure is counted by its name
            return type(e).__name__
        finally:
            c.close()

    def client(k):
        i = 0
        while (i < each) if each else (time.time() < stop):
            code = ask(paths[(k * max(each, 1) + i) % len(paths)])
            i += 1
            with lock:
                codes[code] += 1
            if not each and code in ("refused", "reset"):
                return

    ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(dict(codes))


if __name__ == "__main__":
    main()
