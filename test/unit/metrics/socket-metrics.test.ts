import assert from 'node:assert/strict';
import client from 'prom-client';
import { registerSocketMetrics, type SocketTotals } from '../../../src/metrics/socket-metrics.js';

describe('socket metrics', function () {
  it('reads the link sockets’ totals at each scrape, with a series per send-drop reason', async function () {
    const totals: SocketTotals = {
      received: 1200,
      batches: 300,
      sent: 900,
      sendQueued: 12,
      sendErrors: 1,
      sendDropReasons: { 'send-queue-full': 4, 'too-big': 0, closed: 0, 'no-buffer-space': 2 },
    };
    const registry = new client.Registry();
    registerSocketMetrics(registry, () => totals);
    let text = await registry.metrics();
    assert.match(text, /^lan_reflector_socket_received_total 1200$/m);
    assert.match(text, /^lan_reflector_socket_receive_batches_total 300$/m);
    assert.match(text, /^lan_reflector_socket_sent_total 900$/m);
    assert.match(text, /^lan_reflector_socket_send_waited_total 12$/m);
    assert.match(text, /^lan_reflector_socket_send_errors_total 1$/m);
    assert.match(text, /^lan_reflector_socket_send_dropped_total\{reason="send-queue-full"\} 4$/m);
    assert.match(text, /^lan_reflector_socket_send_dropped_total\{reason="too-big"\} 0$/m);
    assert.match(text, /^lan_reflector_socket_send_dropped_total\{reason="no-buffer-space"\} 2$/m);
    totals.received = 1500;
    text = await registry.metrics();
    assert.match(text, /^lan_reflector_socket_received_total 1500$/m);
  });
});
