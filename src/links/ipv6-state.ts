// Whether a link can carry IPv6 at all. A kernel booted with ipv6.disable=1 has no IPv6; a link with
// net.ipv6.conf.<link>.disable_ipv6 = 1 (some CNIs set it on pod veths, Calico's among them when
// the pod has no IPv6 address) silently drops whatever IPv6 is sent or received on it: the kernel
// accepts the socket, the group join and the send, then discards the packet (ip6_output,
// SKB_DROP_REASON_IPV6DISABLED). So the agent reads the switch itself, skips IPv6 on such a link
// with one clear log line, shows the state in `status`, and reads it again on every link scan.
import { existsSync, readFileSync } from 'node:fs';
import type { InterfaceName } from '../config/types.js';

export type Ipv6State = 'on' | 'disabled' | 'unsupported';

export interface Ipv6LinkState {
  state: Ipv6State;
  /** For people: why it is not on, naming the sysctl to change. */
  detail?: string;
}

/** Reads /proc/sys/net/ipv6 (or `root`, for tests). Never throws. */
export function readIpv6State(link: InterfaceName, root = '/proc/sys/net/ipv6'): Ipv6LinkState {
  if (!existsSync(root))
    return { state: 'unsupported', detail: 'this kernel has no IPv6 (booted with ipv6.disable=1?)' };
  try {
    const v = readFileSync(`${root}/conf/${link}/disable_ipv6`, 'utf8').trim();
    if (v === '1')
      return {
        state: 'disabled',
        detail: `net.ipv6.conf.${link}.disable_ipv6 = 1 (set it to 0 to relay IPv6 discovery here)`,
      };
    return { state: 'on' };
  } catch {
    // The link vanished between the scan and here; the next scan settles it.
    return { state: 'unsupported', detail: `no IPv6 settings for ${link} (is the link gone?)` };
  }
}
