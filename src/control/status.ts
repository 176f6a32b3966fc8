// Pure: the status reply built from the agent's observable surface.
import type { ProtocolName } from '../config/types.js';
import { chooseSourceMode } from '../reflect/source-mode.js';
import type { Flow, PodAttachment } from '../reflect/types.js';
import type { ControlSource, FlowCounts, InterfaceStatus, PodStatus, StatusReply } from './types.js';

export function buildStatus(src: ControlSource, tailClients: number, now = Date.now()): StatusReply {
  const lan = src.config.lanInterface;
  const attached = new Map(src.attachments.map((a) => [a.pod.key, a]));
  const problems = src.podProblems();
  const modeOf = (a: PodAttachment | undefined) =>
    a ? chooseSourceMode(src.config.sourceMode, a.reach, src.lanAddress !== undefined) : null;
  const pods: PodStatus[] = src.registry
    .all()
    .map((p) => ({
      name: p.name,
      key: p.key,
      addresses: [...p.addresses],
      link: attached.get(p.key)?.link ?? null,
      port: attached.get(p.key)?.port ?? null,
      sourceMode: modeOf(attached.get(p.key)),
      options: p.options,
      problem:
        problems.get(p.name) ??
        (attached.has(p.key) ? null : 'waiting for the next link scan to find its host link'),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));

  const podsByLink = new Map<string, string[]>();
  for (const a of src.attachments) {
    for (const l of new Set([a.link, a.port])) {
      const list = podsByLink.get(l) ?? [];
      list.push(a.pod.name);
      podsByLink.set(l, list);
    }
  }
  const v6 = src.links6?.status();
  const interfaces: InterfaceStatus[] = [...src.links.links]
    .map(([name, l]) => ({
      name,
      role: name === lan ? ('lan' as const) : ('pod' as const),
      index: l.index,
      mtu: l.mtu,
      groups: [...l.groups].sort(),
      pods: (podsByLink.get(name) ?? []).sort(),
      received: l.stats.received,
      sent: l.stats.sent,
      sendErrors: l.stats.sendErrors,
      socket: {
        kind: l.kind ?? 'ipv4-udp',
        receive: l.receive ?? true,
        filterPorts: l.filterPorts ? [...l.filterPorts] : null,
        received: l.stats.received,
        sent: l.stats.sent,
        sendErrors: l.stats.sendErrors,
        batches: l.stats.batches ?? 0,
        sendQueued: l.stats.sendQueued ?? 0,
        sendDropped: l.stats.sendDropped ?? 0,
        sendDropReasons: { ...(l.stats.sendDropReasons ?? {}) },
        queueDepth: l.stats.queueDepth ?? 0,
        truncated: l.stats.truncated ?? 0,
      },
      ...(v6 ? { ipv6: v6.get(name) ?? { state: 'off', open: false, groups: [] } } : {}),
    }))
    .sort((a, b) => (a.role === b.role ? a.name.localeCompare(b.name) : a.role === 'lan' ? -1 : 1));

  const c = src.counters;
  const packets: StatusReply['packets'] = {};
  const protocols = new Set<string>([
    ...src.config.protocols,
    ...Object.keys(c.received),
    ...Object.keys(c.relayed),
  ]);
  for (const p of protocols) {
    const row: Partial<Record<Flow, FlowCounts>> = {};
    for (const f of ['lan-to-pod', 'pod-to-lan'] as const) {
      row[f] = {
        received: c.received[p]?.[f] ?? 0,
        relayed: c.relayed[p]?.[f] ?? 0,
        emitted: c.emitted[p]?.[f] ?? 0,
      };
    }
    packets[p] = row;
  }
  const dropped: StatusReply['dropped'] = {};
  for (const [p, row] of Object.entries(c.dropped)) dropped[p] = { ...row };

  return {
    type: 'status',
    pid: process.pid,
    startedAt: new Date(src.startedAt).toISOString(),
    uptimeSeconds: Math.max(0, Math.round((now - src.startedAt) / 1000)),
    ready: src.ready,
    lanInterface: lan,
    lanAddress: src.lanAddress ? `${src.lanAddress.address}/${src.lanAddress.prefixLength}` : null,
    protocols: [...src.config.protocols] as ProtocolName[],
    sourceMode: src.config.sourceMode,
    pods,
    interfaces,
    packets,
    dropped,
    sessions: src.sessions?.size ?? 0,
    tailClients,
  };
}
