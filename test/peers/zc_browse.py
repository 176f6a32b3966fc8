#!/usr/bin/python3
"""Browse one DNS-SD service type with python3-zeroconf and resolve what it finds.

Prints {"event": "resolved", "name", "type", "addresses", "port", "server", "txt"} per service, then
{"event": "done", "count": N}. Exits 0 if anything was resolved, 1 if nothing, 2 on error.
Stops after --timeout seconds, or as soon as --count services are resolved.
Run with Debian's /usr/bin/python3, which has python3-zeroconf.
"""
import argparse
import json
import queue
import signal
import sys
import time

from zeroconf import InterfaceChoice, IPVersion, ServiceBrowser, ServiceInfo, ServiceStateChange, Zeroconf


def emit(**fields):
    print(json.dumps(fields), flush=True)


def decode(v):
    return None if v is None else v.decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--type", default="_demo._tcp.local.")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds to browse")
    ap.add_argument("--count", type=int, default=0, help="exit after this many resolved (0: run to timeout)")
    ap.add_argument("--address", help="IPv4 or IPv6 address of the interface to use (default: all IPv4"
                    " interfaces); an IPv6 address makes zeroconf run V6Only")
    args = ap.parse_args()

    deadline = time.monotonic() + args.timeout
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    interfaces = [args.address] if args.address else InterfaceChoice.All
    version = IPVersion.V6Only if args.address and ":" in args.address else IPVersion.V4Only
    zc = Zeroconf(interfaces=interfaces, ip_version=version)
    found = queue.Queue()

    # Handlers run on zeroconf's event loop: only hand the name over, resolve on this thread.
    def on_change(zeroconf, service_type, name, state_change):
        if state_change in (ServiceStateChange.Added, ServiceStateChange.Updated):
            found.put(name)

    browser = ServiceBrowser(zc, args.type, handlers=[on_change])
    resolved = set()
    pending = []  # found but not resolved yet; a failed request is retried until the deadline
    try:
        while time.monotonic() < deadline and not (args.count and len(resolved) >= args.count):
            try:
                wait = 0.05 if pending else max(0.05, deadline - time.monotonic())
                name = found.get(timeout=wait)
                if name not in resolved and name not in pending:
                    pending.append(name)
            except queue.Empty:
                pass
            if not pending:
                continue
            name = pending.pop(0)
            info = ServiceInfo(args.type, name)
            left_ms = int(max(0.1, deadline - time.monotonic()) * 1000)
            if not info.request(zc, min(1000, left_ms)):
                pending.append(name)
                continue
            resolved.add(name)
            emit(event="resolved", name=name, type=args.type, addresses=info.parsed_addresses(),
                 port=info.port, server=info.server,
                 txt={decode(k): decode(v) for k, v in info.properties.items()})
    finally:
        browser.cancel()
        zc.close()
    emit(event="done", count=len(resolved))
    sys.exit(0 if resolved else 1)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as err:
        emit(event="error", message=f"{type(err).__name__}: {err}")
        sys.exit(2)
