#!/usr/bin/python3
"""Publish one DNS-SD service with python3-zeroconf (the library Home Assistant uses) until SIGTERM.

Prints JSON lines on stdout: {"event": "registered", ...} once probing and announcing are done,
{"event": "stopped"} after the goodbye packets on SIGTERM/SIGINT, {"event": "error", ...} on failure.
Run with Debian's /usr/bin/python3, which has python3-zeroconf.
"""
import argparse
import json
import signal
import socket
import sys
import threading

from zeroconf import IPVersion, ServiceInfo, Zeroconf


def emit(**fields):
    print(json.dumps(fields), flush=True)


def packed(address):
    return socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)


def version_of(address):
    return IPVersion.V6Only if ":" in address else IPVersion.V4Only


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--type", default="_demo._tcp.local.")
    ap.add_argument("--name", required=True, help="instance name, e.g. 'Kitchen'")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--address", required=True,
                    help="IPv4 or IPv6 address to announce and to send/listen on (IPv6: zeroconf runs V6Only)")
    ap.add_argument("--extra-address", action="append", default=[], metavar="ADDR",
                    help="another address to announce (not listened on), e.g. a link-local one")
    ap.add_argument("--host", help="host name to announce (default: derived from --name)")
    ap.add_argument("--txt", action="append", default=[], metavar="K=V")
    args = ap.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    host = args.host or "".join(c if c.isalnum() else "-" for c in args.name.lower())
    txt = dict(kv.split("=", 1) if "=" in kv else (kv, None) for kv in args.txt)
    info = ServiceInfo(
        args.type,
        f"{args.name}.{args.type}",
        addresses=[packed(a) for a in [args.address, *args.extra_address]],
        port=args.port,
        properties=txt,
        server=f"{host}.local.",
    )
    # Name the interface by its address: a pod's /32 has no subnet, and InterfaceChoice.All would
    # also join the group on loopback. With an explicit address, zeroconf sets IP_MULTICAST_IF to it.
    # IPv6: zeroconf maps the address to its interface index, joins ff02::fb there and sends from
    # that address.
    zc = Zeroconf(interfaces=[args.address], ip_version=version_of(args.address))
    try:
        zc.register_service(info)
        emit(event="registered", name=info.name, type=args.type, address=args.address, port=args.port,
             server=info.server)
        while not stop.wait(0.2):
            pass
        zc.unregister_service(info)
    finally:
        zc.close()
    emit(event="stopped", name=info.name)


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # report in the same channel the test reads
        emit(event="error", message=f"{type(err).__name__}: {err}")
        sys.exit(2)
