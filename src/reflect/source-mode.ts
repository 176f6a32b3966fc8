// Pure: which source a pod's packets leave for the LAN with (DESIGN.md "Reflection rules").
import type { SourceMode } from '../config/types.js';
import type { Reach } from './types.js';

export type EffectiveSourceMode = 'preserve' | 'node' | 'no-node-address';

/** `auto` keeps the source of pods the LAN can reach (inside its subnet, or routed to) and re-sends
 *  the others from the node. Without a LAN address there is no node source: `auto` then keeps every
 *  pod's own (the agent warns), while an explicit `node` refuses to leak the pod's address. */
export function chooseSourceMode(
  configured: SourceMode,
  reach: Reach,
  hasNodeAddress: boolean,
): EffectiveSourceMode {
  if (configured === 'preserve') return 'preserve';
  if (configured === 'node') return hasNodeAddress ? 'node' : 'no-node-address';
  if (!hasNodeAddress || reach !== 'unroutable') return 'preserve';
  return 'node';
}
