#!/usr/bin/python3
"""Listens on 0.0.0.0:PORT (joined to --group if given, broadcasts allowed) and prints each datagram's
sender: {"event": "datagram", "from": ADDR, "port": N, "size": N, "text": first line}.
With --reply TEXT, answers each datagram by unicast to its sender (a WiZ/Kasa-style responder)."""
import argparse, json, socket, struct

ap = argparse.ArgumentParser()
ap.add_argument('--port', type=int, required=True)
ap.add_argument('--group')
ap.add_argument('--reply')
ap.add_argument('--join-on', default='0.0.0.0', help='interface address to join --group on (a host without a default route needs it)')
args = ap.parse_args()

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.bind(('0.0.0.0', args.port))
if args.group:
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 struct.pack('4s4s', socket.inet_aton(args.group), socket.inet_aton(args.join_on)))
print(json.dumps({'event': 'listening', 'port': args.port}), flush=True)
while True:
    data, (addr, port) = s.recvfrom(65535)
    text = data.decode('latin1').split('\r\n')[0][:120]
    print(json.dumps({'event': 'datagram', 'from': addr, 'port': port, 'size': len(data), 'text': text}), flush=True)
    if args.reply:
        s.sendto(args.reply.encode(), (addr, port))
