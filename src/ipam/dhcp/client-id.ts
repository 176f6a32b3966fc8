// The stable DHCP identity of a pod: the same namespace and name always give the same client
// identifier (option 61), so a recreated pod, a restarted agent or a rebooted node asks for, and a
// router reservation pins, the same address. (The CNI dhcp plugin keys on the container ID: every
// recreated pod took a fresh lease and ran the write-up's pool dry.)
//
// The exact bytes (documented in the README so a reservation can name them):
//   type 0x00, then the ASCII text `lan-reflector:NAMESPACE/NAME`
// RFC 2132 §9.14: type 0 is for an identifier that is not a hardware address. Kubernetes names hold
// only [a-z0-9.-], so the text needs no escaping. When it would not fit one option (255 bytes; only
// pod names over ~170 characters), the text is `lan-reflector:sha256:` + the first 32 hex digits of
// SHA-256 over `NAMESPACE/NAME`.
import { createHash } from 'node:crypto';

export const CLIENT_ID_PREFIX = 'lan-reflector:';
const MAX_OPTION = 255;

export interface PodName {
  namespace: string;
  name: string;
}

export function clientIdFor(pod: PodName): Buffer {
  const key = `${pod.namespace}/${pod.name}`;
  let text = CLIENT_ID_PREFIX + key;
  if (1 + Buffer.byteLength(text) > MAX_OPTION) {
    text = `${CLIENT_ID_PREFIX}sha256:${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
  }
  return Buffer.concat([Buffer.from([0]), Buffer.from(text, 'ascii')]);
}

/** `00:6c:61:...`: the form dnsmasq (`dhcp-host=id:…`), Kea (`"client-id": "…"`) and ISC dhcpd
 *  (`option dhcp-client-identifier …;`) all accept. */
export function clientIdHex(id: Buffer): string {
  return [...id].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Option 12: the pod's name as one RFC 1123 label (pod names may hold dots and run to 253 chars). */
export function hostNameFor(pod: PodName): string {
  const label = pod.name
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63)
    .replace(/^-+|-+$/g, '');
  return label || 'pod';
}
