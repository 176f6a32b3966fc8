// Pure: what `tail` and `status` print for people.
import type { PacketLine, StatusReply } from './types.js';

const pad2 = (n: number) => String(n).padStart(2, '0');

/** HH:MM:SS.mmm in the local time zone of whoever reads it. */
export function clockTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/**
 * One line per packet:
 *   08:12:01.123 mdns lan-to-pod 192.168.4.10 -> ha/home-assistant  response | A: PTR …
 *   08:12:01.456 mdns pod-to-lan 10.1.2.3 (ha/home-assistant) -> -  query | Q: …  DROP rate-limited
 */
export function formatPacketLine(p: PacketLine): string {
  const from = p.pod && p.pod !== p.src ? `${p.src} (${p.pod})` : p.src;
  const to = p.targets.length ? p.targets.join(',') : '-';
  let line = `${clockTime(p.time)} ${p.protocol} ${p.direction} ${from} -> ${to}  ${p.summary}`;
  if (p.drop) {
    line += `  DROP ${p.drop}`;
    if (p.detail && !p.summary.includes(p.detail)) line += ` (${p.detail})`;
  }
  return line;
}

export function formatDuration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  if (d) return `${d}d${h}h`;
  if (h) return `${h}h${m}m`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

/** Columns padded to the widest cell; the last column is not padded. */
export function table(rows: string[][], indent = '  '): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map(
    (r) =>
      indent +
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
        .join('  ')
        .trimEnd(),
  );
}

export function formatStatus(s: StatusReply): string {
  const out: string[] = [];
  out.push(
    `agent: ${s.ready ? 'ready' : 'NOT READY'}, up ${formatDuration(s.uptimeSeconds)} (since ${s.startedAt}), pid ${s.pid}`,
  );
  out.push(
    `LAN interface: ${s.lanInterface}${s.lanAddress ? ` (${s.lanAddress})` : ''}   source mode: ${s.sourceMode}   protocols: ${s.protocols.join(', ')}`,
  );
  if (s.sessions) out.push(`sessions: ${s.sessions}`);
  out.push(`tail clients: ${s.tailClients}`);

  out.push('', `Pods (${s.pods.length} opted in):`);
  if (s.pods.length === 0) out.push('  none: no pod has opted in on this node');
  else {
    const rows = [
      ['NAME', 'ADDRESSES', 'LINK', 'SOURCE', 'PROTOCOLS', 'DIRECTION', 'SERVICES', 'BROADCAST PORTS'],
    ];
    for (const p of s.pods) {
      rows.push([
        p.name,
        p.addresses.join(',') || '-',
        p.link === null ? '-' : p.port && p.port !== p.link ? `${p.link} (port ${p.port})` : p.link,
        p.sourceMode ?? '-',
        p.options.protocols.join(',') || '-',
        p.options.direction,
        p.options.services.join(',') || 'all',
        p.options.broadcastPorts.join(',') || 'agent default',
      ]);
    }
    out.push(...table(rows));
    for (const p of s.pods) if (p.problem) out.push(`  ! ${p.name}: ${p.problem}`);
  }

  out.push('', 'Interfaces:');
  if (s.interfaces.length === 0) out.push('  none open');
  else {
    const rows = [
      [
        'NAME',
        'ROLE',
        'INDEX',
        'MTU',
        'RECEIVED',
        'SENT',
        'ERRORS',
        'GROUPS',
        'PODS',
        'SOCKET',
        'FILTER',
        'IPV6',
      ],
    ];
    for (const i of s.interfaces)
      rows.push([
        i.name,
        i.role,
        String(i.index),
        String(i.mtu),
        String(i.received),
        String(i.sent),
        String(i.sendErrors),
        i.groups.join(',') || '-',
        i.pods.join(',') || (i.role === 'lan' ? '' : '-'),
        i.socket.receive ? i.socket.kind : `${i.socket.kind} send-only`,
        !i.socket.receive
          ? '-'
          : i.socket.filterPorts === null
            ? 'all udp'
            : `udp ${i.socket.filterPorts.join(',') || 'none'}`,
        i.ipv6 ? (i.ipv6.state === 'on' && !i.ipv6.open ? 'on (not open)' : i.ipv6.state) : '-',
      ]);
    out.push(...table(rows));
    for (const i of s.interfaces) {
      if (i.ipv6?.detail || i.ipv6?.error) out.push(`  ! ${i.name} IPv6: ${i.ipv6.error ?? i.ipv6.detail}`);
      const dropped = Object.entries(i.socket.sendDropReasons).filter(([, n]) => n > 0);
      if (dropped.length)
        out.push(`  ! ${i.name}: sends dropped: ${dropped.map(([r, n]) => `${r} ${n}`).join(', ')}`);
    }
    const sock = s.interfaces.reduce(
      (t, i) => ({
        received: t.received + i.socket.received,
        batches: t.batches + i.socket.batches,
        queued: t.queued + i.socket.sendQueued,
        dropped: t.dropped + i.socket.sendDropped,
        truncated: t.truncated + i.socket.truncated,
      }),
      { received: 0, batches: 0, queued: 0, dropped: 0, truncated: 0 },
    );
    out.push(
      `  sockets: ${sock.received} received in ${sock.batches} batches, ${sock.queued} sends waited, ` +
        `${sock.dropped} sends dropped, ${sock.truncated} truncated`,
    );
  }

  out.push('', 'Packets since start:');
  const rows = [['PROTOCOL', 'DIRECTION', 'RECEIVED', 'RELAYED', 'COPIES SENT']];
  for (const [proto, flows] of Object.entries(s.packets).sort(([a], [b]) => a.localeCompare(b)))
    for (const [flow, c] of Object.entries(flows))
      if (c) rows.push([proto, flow, String(c.received), String(c.relayed), String(c.emitted)]);
  out.push(...table(rows));

  const drops = Object.entries(s.dropped).flatMap(([proto, reasons]) =>
    Object.entries(reasons).map(([reason, n]) => [proto, reason, String(n ?? 0)]),
  );
  out.push('', 'Dropped since start:');
  if (drops.length === 0) out.push('  none');
  else
    out.push(
      ...table([
        ['PROTOCOL', 'REASON', 'PACKETS'],
        ...drops.sort((a, b) => a.join().localeCompare(b.join())),
      ]),
    );
  return out.join('\n') + '\n';
}
