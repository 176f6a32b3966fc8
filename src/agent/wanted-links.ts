// Pure: which link sockets the agent wants open for a set of attached pods, and which pods are
// relayed for once the sockets are known.
import type { InterfaceName, IPAddress } from '../config/types.js';
import type { PodAttachment } from '../reflect/types.js';

/** Receive links (the LAN, pod veths, bridges) join the protocols' groups; a bridge port, used only
 *  to send to one pod, joins none and hands nothing to the engine. */
export interface LinkUse {
  groups: IPAddress[];
  receive: boolean;
}

export function wantedLinks(
  lan: InterfaceName,
  attachments: readonly PodAttachment[],
  groups: readonly IPAddress[],
): Map<InterfaceName, LinkUse> {
  const receive: LinkUse = { groups: [...groups], receive: true };
  const wanted = new Map<InterfaceName, LinkUse>([[lan, receive]]);
  for (const a of attachments) wanted.set(a.link, receive);
  for (const a of attachments) if (!wanted.has(a.port)) wanted.set(a.port, { groups: [], receive: false });
  return wanted;
}

/** Only pods whose sockets (link and port) are open are relayed for; the rest wait for a scan. */
export function relayedAttachments(
  attachments: readonly PodAttachment[],
  isOpen: (link: InterfaceName) => boolean,
): PodAttachment[] {
  return attachments.filter((a) => isOpen(a.link) && isOpen(a.port));
}
