// The two decisions ARP traffic asks of the IPAM, as pure functions over decoded frames: does this
// frame make a probed address "in use" (RFC 5227 2.1.1), and does it contest an address one of this
// node's pods holds (RFC 5227 2.4)? The socket code in arp-port.ts only feeds them frames.
import type { IPv4Address } from '../config/types.js';
import { ANY_ADDRESS, ARPOP_REPLY, ARPOP_REQUEST, type ArpFrame, type MacAddress } from './arp.js';

/** Why a frame matters while `address` is probed, or undefined when it does not. */
export type ProbeConflict = { by: MacAddress; kind: 'in-use' | 'probing' };

/**
 * RFC 5227 2.1.1: during probing, "any ARP packet (Request *or* Reply) [...] where the packet's
 * 'sender IP address' is the address being probed for" means another host uses it; and "any ARP
 * Probe where the packet's 'target IP address' is the address being probed for, and the packet's
 * 'sender hardware address' is not the hardware address of any of the host's interfaces" means
 * another host is about to take it. A frame from our own MAC is no conflict: it is our own probe
 * (a packet socket also sees what we send) or this node's proxy entry answering for one of its pods.
 */
export function probeConflict(
  f: ArpFrame,
  address: IPv4Address,
  ownMac: MacAddress,
): ProbeConflict | undefined {
  if (f.senderMac === ownMac || f.ethSrc === ownMac) return undefined;
  if (f.senderIp === address) return { by: f.senderMac, kind: 'in-use' };
  if (f.op === ARPOP_REQUEST && f.senderIp === ANY_ADDRESS && f.targetIp === address)
    return { by: f.senderMac, kind: 'probing' };
  return undefined;
}

/** What a frame means for an address this node's pods hold. */
export type ClaimVerdict =
  /** Another MAC says it has the address (a request, reply or announcement from it). */
  | { kind: 'conflict'; address: IPv4Address; by: MacAddress }
  /** Another host probes for the address: answer, or it will take it (the kernel's proxy entries
   *  do not answer probes: Linux answers a request from 0.0.0.0 only for its own addresses). */
  | { kind: 'defend'; address: IPv4Address; prober: MacAddress };

export function claimVerdict(
  f: ArpFrame,
  ownMac: MacAddress,
  isLocalPod: (address: IPv4Address) => boolean,
): ClaimVerdict | undefined {
  if (f.senderMac === ownMac || f.ethSrc === ownMac) return undefined;
  if (f.senderIp !== ANY_ADDRESS && isLocalPod(f.senderIp))
    return { kind: 'conflict', address: f.senderIp, by: f.senderMac };
  if (f.op === ARPOP_REQUEST && f.senderIp === ANY_ADDRESS && isLocalPod(f.targetIp))
    return { kind: 'defend', address: f.targetIp, prober: f.senderMac };
  return undefined;
}

/** The answer to another host's probe for `address`: what Linux sends for its own addresses (a
 *  reply unicast to the prober, target IP 0.0.0.0 as the probe's sender was). */
export function probeDefence(ownMac: MacAddress, address: IPv4Address, prober: MacAddress): ArpFrame {
  return {
    ethDst: prober,
    ethSrc: ownMac,
    op: ARPOP_REPLY,
    senderMac: ownMac,
    senderIp: address,
    targetMac: prober,
    targetIp: ANY_ADDRESS,
  };
}
