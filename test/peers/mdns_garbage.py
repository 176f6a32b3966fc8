#!/usr/bin/python3
"""Sends --count malformed mDNS datagrams to 224.0.0.251:5353 from --address: random bytes, DNS
headers that promise records they do not carry, compression-pointer loops and bare fragments.
Prints {"event": "sent", "count": N} when done."""
import argparse, json, os, random, socket, struct

ap = argparse.ArgumentParser()
ap.add_argument('--address', required=True)
ap.add_argument('--count', type=int, default=1000)
ap.add_argument('--seed', type=int, default=7)
ap.add_argument('--valid', action='store_true', help='send well-formed queries instead (a flood)')
ap.add_argument('--pps', type=float, default=0, help='packets per second (0: as fast as possible)')
ap.add_argument('--kind', type=int, choices=[0, 1, 2, 3, 4], help='only this kind (4: 65,535 records claimed)')
args = ap.parse_args()
rnd = random.Random(args.seed)

def valid(i):
    name = b''.join(bytes([len(l)]) + l for l in [b'flood%d' % i, b'_demo', b'_tcp', b'local']) + b'\x00'
    return struct.pack('!6H', 0, 0, 1, 0, 0, 0) + name + b'\x00\x0c\x00\x01'

def garbage(i):
    kind = i % 4 if args.kind is None else args.kind
    if kind == 4:  # 12 bytes claiming 65,535 records per section (issue 13)
        return struct.pack('!6H', i & 0xffff, 0x8400, 0xffff, 0xffff, 0xffff, 0xffff)
    if kind == 0:  # random bytes, at least a header's worth
        return os.urandom(rnd.randint(12, 600))
    if kind == 1:  # header claims 5 questions, body ends mid-name
        return struct.pack('!6H', i & 0xffff, 0, 5, 0, 0, 0) + b'\x07_device\x04_tc'
    if kind == 2:  # a name whose compression pointer points at itself
        return struct.pack('!6H', 0, 0x8400, 0, 1, 0, 0) + b'\xc0\x0c' + b'\x00\x01\x00\x01\x00\x00\x00\x78\x00\x04'
    return struct.pack('!6H', 0, 0x8400, 0, 1, 0, 0) + os.urandom(rnd.randint(1, 40))  # truncated answer

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(args.address))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((args.address, 5353))
import time
start = time.monotonic()
for i in range(args.count):
    if args.pps:
        wait = start + i / args.pps - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    s.sendto(valid(i) if args.valid else garbage(i), ('224.0.0.251', 5353))
print(json.dumps({'event': 'sent', 'count': args.count}), flush=True)
