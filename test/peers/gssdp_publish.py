#!/usr/bin/python3
"""Announces one UPnP resource with the real GSSDP library (a GSSDP.ResourceGroup: NOTIFY ssdp:alive
at start and every few seconds, answers to matching M-SEARCH) until SIGTERM. --family 6 runs it over
IPv6 (ff02::c). Prints {"event": "announcing", "address": ...} once the client is up."""
import argparse, json, signal, sys
import gi
gi.require_version('GSSDP', '1.6')
from gi.repository import GSSDP, GLib, Gio

ap = argparse.ArgumentParser()
ap.add_argument('--interface', required=True)
ap.add_argument('--family', choices=['4', '6'], default='4')
ap.add_argument('--address', help='with --family 6: the address to use; GSSDP picks the group by its '
                'scope: fe80:: -> ff02::c, a global one -> ff0e::c')
ap.add_argument('--target', default='urn:schemas-upnp-org:device:MediaServer:1')
ap.add_argument('--usn', default='uuid:5a9e6f3c-lr-test::urn:schemas-upnp-org:device:MediaServer:1')
ap.add_argument('--location', required=True, help='the LOCATION URL to announce')
args = ap.parse_args()

if args.family == '6':
    client = GSSDP.Client.new_full(args.interface, Gio.InetAddress.new_from_string(args.address), 0,
                                   GSSDP.UDAVersion.VERSION_1_0)
else:
    client = GSSDP.Client.new(args.interface)
group = GSSDP.ResourceGroup.new(client)
group.set_max_age(30)
group.add_resource_simple(args.target, args.usn, args.location)
group.set_available(True)
print(json.dumps({'event': 'announcing', 'address': client.get_host_ip(), 'target': args.target}), flush=True)
loop = GLib.MainLoop()
signal.signal(signal.SIGTERM, lambda *_: loop.quit())
loop.run()
