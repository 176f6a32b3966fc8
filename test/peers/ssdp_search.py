#!/usr/bin/python3
"""A SoCo-like SSDP client: sends an M-SEARCH and reports each reply with the address it came from,
which SoCo and Home Assistant's Sonos integration take as the device's address.
Prints {"event": "reply", "from": ADDR, "port": N, "st": ..., "location": ...} per reply."""
import argparse, json, socket, sys, time

ap = argparse.ArgumentParser()
ap.add_argument('--st', default='ssdp:all')
ap.add_argument('--bind', default='0.0.0.0', help='source address (picks the interface on a host without a default route)')
ap.add_argument('--timeout', type=float, default=4)
ap.add_argument('--mx', type=int, default=1)
args = ap.parse_args()

msg = ('M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\n'
       f'MX: {args.mx}\r\nST: {args.st}\r\n\r\n').encode()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
s.bind((args.bind, 0))
if args.bind != '0.0.0.0':
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(args.bind))
s.sendto(msg, ('239.255.255.250', 1900))
end = time.time() + args.timeout
n = 0
while time.time() < end:
    s.settimeout(max(0.05, end - time.time()))
    try:
        data, (addr, port) = s.recvfrom(4096)
    except socket.timeout:
        break
    head = {}
    for line in data.decode('latin1').split('\r\n')[1:]:
        if ':' in line:
            k, v = line.split(':', 1)
            head[k.strip().upper()] = v.strip()
    n += 1
    print(json.dumps({'event': 'reply', 'from': addr, 'port': port, 'st': head.get('ST'),
                      'location': head.get('LOCATION'), 'usn': head.get('USN')}), flush=True)
sys.exit(0 if n else 1)
