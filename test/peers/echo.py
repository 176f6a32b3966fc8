#!/usr/bin/python3
"""A TCP or UDP echo peer, to prove a device reaches a pod at its address.
  echo.py --proto tcp|udp --listen PORT [--bind ADDR]   prints {"event": "listening"}, then answers every
                                                        message with "echo <message>" (TCP: one per connection)
  echo.py --proto tcp|udp --connect ADDR --port PORT --text T [--timeout S]
                                                        prints {"event": "reply", "text": ..., "peer": ADDR}
                                                        or {"event": "error", "message": ...} and exits 1."""
import argparse, json, socket, sys

ap = argparse.ArgumentParser()
ap.add_argument('--proto', choices=['tcp', 'udp'], required=True)
ap.add_argument('--listen', type=int)
ap.add_argument('--bind', default='0.0.0.0')
ap.add_argument('--connect')
ap.add_argument('--port', type=int)
ap.add_argument('--text', default='hello')
ap.add_argument('--timeout', type=float, default=3.0)
args = ap.parse_args()
kind = socket.SOCK_STREAM if args.proto == 'tcp' else socket.SOCK_DGRAM

def out(**o):
    print(json.dumps(o), flush=True)

if args.listen is not None:
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((args.bind, args.listen))
    if args.proto == 'tcp':
        s.listen(16)
    out(event='listening', port=args.listen)
    while True:
        if args.proto == 'tcp':
            c, (addr, _) = s.accept()
            data = c.recv(4096)
            c.sendall(b'echo ' + data)
            c.close()
        else:
            data, (addr, port) = s.recvfrom(4096)
            s.sendto(b'echo ' + data, (addr, port))
        out(event='served', peer=addr, text=data.decode('latin1'))
else:
    try:
        s = socket.socket(socket.AF_INET, kind)
        s.settimeout(args.timeout)
        s.connect((args.connect, args.port))
        s.send(args.text.encode())
        data = s.recv(4096)
        out(event='reply', text=data.decode('latin1'), peer=s.getpeername()[0])
    except Exception as e:  # a timeout or refusal is the answer the test looks at
        out(event='error', message=str(e))
        sys.exit(1)
