#!/usr/bin/python3
"""Sends one datagram to ADDRESS:PORT (a broadcast address by default, as WiZ/Kasa/LIFX apps do) and
prints every reply with its source: {"event": "reply", "from": ADDR, "port": N, "text": ...}."""
import argparse, json, socket, sys, time

ap = argparse.ArgumentParser()
ap.add_argument('--port', type=int, required=True)
ap.add_argument('--address', default='255.255.255.255')
ap.add_argument('--message', default='{"method":"getPilot","params":{}}')
ap.add_argument('--bind', default='0.0.0.0', help='source address (picks the interface on a host without a default route)')
ap.add_argument('--timeout', type=float, default=3)
args = ap.parse_args()

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.bind((args.bind, 0))
if args.bind != '0.0.0.0':  # a multicast destination leaves from the bound address's interface
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(args.bind))
s.sendto(args.message.encode(), (args.address, args.port))
end = time.time() + args.timeout
n = 0
while time.time() < end:
    s.settimeout(max(0.05, end - time.time()))
    try:
        data, (addr, port) = s.recvfrom(65535)
    except socket.timeout:
        break
    n += 1
    print(json.dumps({'event': 'reply', 'from': addr, 'port': port, 'text': data.decode('latin1')[:200]}), flush=True)
sys.exit(0 if n else 1)
