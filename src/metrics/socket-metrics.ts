// Prometheus metrics of the native socket layer, summed over every link socket the agent has had
// (open ones plus those it closed), so the counters never go backwards when a pod's veth goes away.
// Labels are bounded: the drop reason only, never a link name or an address.
import client from 'prom-client';
import { SEND_DROP_REASONS, type SendDropReason } from '../wire/native.js';

/** Totals over the agent's link sockets (LinkSet.socketTotals() satisfies it). */
export interface SocketTotals {
  received: number;
  batches: number;
  sent: number;
  sendQueued: number;
  sendErrors: number;
  sendDropReasons: Record<SendDropReason, number>;
}

export function registerSocketMetrics(registry: client.Registry, totals: () => SocketTotals): void {
  const counter = (name: string, help: string, read: (t: SocketTotals) => number) =>
    new client.Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(totals()));
      },
    });
  counter(
    'lan_reflector_socket_received_total',
    'Packets the link sockets handed the agent: only those its kernel filter passed (the discovery ports).',
    (t) => t.received,
  );
  counter(
    'lan_reflector_socket_receive_batches_total',
    'recvmmsg calls that returned packets; received / batches is the mean batch size.',
    (t) => t.batches,
  );
  counter('lan_reflector_socket_sent_total', 'Packets the link sockets sent (sendmmsg).', (t) => t.sent);
  counter(
    'lan_reflector_socket_send_waited_total',
    'Packets that waited in a socket queue until the socket was writable again.',
    (t) => t.sendQueued,
  );
  counter(
    'lan_reflector_socket_send_errors_total',
    'Packets the kernel refused to send (errors other than a full socket).',
    (t) => t.sendErrors,
  );
  new client.Counter({
    name: 'lan_reflector_socket_send_dropped_total',
    help: 'Packets a link socket dropped instead of sending, by reason (send-queue-full, too-big, no-buffer-space, closed).',
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const t = totals();
      for (const r of SEND_DROP_REASONS) this.inc({ reason: r }, t.sendDropReasons[r] ?? 0);
    },
  });
}
