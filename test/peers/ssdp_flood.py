#!/usr/bin/python3
"""A misbehaving SSDP client: sends --count M-SEARCH messages, each from a fresh source port (a new
socket per message), as fast as it can. Prints {"event": "sent", "count": N} when done."""
import argparse, json, socket

ap = argparse.ArgumentParser()
ap.add_argument('--count', type=int, default=1500)
ap.add_argument('--bind', default='0.0.0.0')
args = ap.parse_args()

msg = (b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\n'
       b'MX: 1\r\nST: ssdp:all\r\n\r\n')
for _ in range(args.count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((args.bind, 0))
    s.sendto(msg, ('239.255.255.250', 1900))
    s.close()
print(json.dumps({'event': 'sent', 'count': args.count}), flush=True)
