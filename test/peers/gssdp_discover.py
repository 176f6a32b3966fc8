#!/usr/bin/python3
"""A gssdp-discover stand-in: drives the real GSSDP library (Debian gir1.2-gssdp-1.6; the
gssdp-discover tool itself is not packaged in bookworm) to browse for a search target.
Prints one JSON line per resource found: {"event": "available", "usn": ..., "locations": [...]}.
Exits 0 after --timeout seconds if something was found, 1 otherwise."""
import argparse, json, sys
import gi
gi.require_version('GSSDP', '1.6')
from gi.repository import GSSDP, GLib

ap = argparse.ArgumentParser()
ap.add_argument('--interface', required=True)
ap.add_argument('--family', choices=['4', '6'], default='4',
                help='6: an IPv6 client on the interface link-local address (SSDP on ff02::c)')
ap.add_argument('--target', default='ssdp:all')
ap.add_argument('--address', help='with --family 6: the address to use; GSSDP picks the group by its '
                'scope: fe80:: -> ff02::c, a global one -> ff0e::c')
ap.add_argument('--timeout', type=float, default=5)
args = ap.parse_args()

if args.family == '6':
    from gi.repository import Gio
    client = GSSDP.Client.new_full(args.interface, Gio.InetAddress.new_from_string(args.address), 0,
                                   GSSDP.UDAVersion.VERSION_1_0)
else:
    client = GSSDP.Client.new(args.interface)
browser = GSSDP.ResourceBrowser.new(client, args.target)
found = []

def on_available(_b, usn, locations):
    found.append(usn)
    print(json.dumps({'event': 'available', 'usn': usn, 'locations': list(locations)}), flush=True)

browser.connect('resource-available', on_available)
browser.set_active(True)
loop = GLib.MainLoop()
GLib.timeout_add(int(args.timeout * 1000), loop.quit)
loop.run()
sys.exit(0 if found else 1)
