// The DHCP client's numbers as plain values (formatted at scrape time by registerDhcpMetrics).
// Labels are bounded: reason, how, problem — never an address or a pod (STYLE.md 10).
import client from 'prom-client';
import { Gauge, LabelledCounter } from '../metrics.js';

export class DhcpMetrics {
  /** Leases the agent holds now. */
  readonly leases = new Gauge();
  /** ADDs that got no lease, by cause (no-server, pool-exhausted, nak, no-ack, declined, bad-offer, announce). */
  readonly failures = new LabelledCounter();
  /** Renewals that succeeded, by how (renewing, rebinding, rebooting). */
  readonly renewals = new LabelledCounter();
  /** Renewal attempts nobody answered, by how. */
  readonly renewalsUnanswered = new LabelledCounter();
  /** Leases in trouble, by problem (not-renewed, expired, lost). */
  readonly problems = new LabelledCounter();
  /** Addresses declined because the probe found them in use. */
  readonly declines = new LabelledCounter();
  readonly releases = new LabelledCounter();
}

function counter(registry: client.Registry, name: string, help: string, label: string[], c: LabelledCounter) {
  new client.Counter({
    name,
    help,
    labelNames: label,
    registers: [registry],
    collect() {
      this.reset();
      for (const [k, v] of c.values) this.inc(JSON.parse(k) as client.LabelValues<string>, v);
    },
  });
}

export function registerDhcpMetrics(registry: client.Registry, m: DhcpMetrics): void {
  new client.Gauge({
    name: 'lan_reflector_dhcp_leases',
    help: 'DHCP leases the agent holds for pods on this node (ipam.mode dhcp).',
    registers: [registry],
    collect() {
      this.set(m.leases.value);
    },
  });
  counter(
    registry,
    'lan_reflector_dhcp_add_failures_total',
    'CNI ADDs that got no DHCP lease, by reason (no-server, pool-exhausted, nak, no-ack, declined, bad-offer, announce).',
    ['reason'],
    m.failures,
  );
  counter(
    registry,
    'lan_reflector_dhcp_renewals_total',
    'DHCP leases renewed, by how (renewing: the granting server at T1; rebinding: any server after T2; rebooting: after expiry).',
    ['how'],
    m.renewals,
  );
  counter(
    registry,
    'lan_reflector_dhcp_renewal_attempts_unanswered_total',
    'DHCP renewal requests no server answered in time, by how (renewing, rebinding, rebooting).',
    ['how'],
    m.renewalsUnanswered,
  );
  counter(
    registry,
    'lan_reflector_dhcp_lease_problems_total',
    'DHCP leases reported in trouble, by problem (not-renewed: T2 passed without renewal; expired; lost: a server refused it).',
    ['problem'],
    m.problems,
  );
  counter(
    registry,
    'lan_reflector_dhcp_declines_total',
    'Leased addresses declined (DHCPDECLINE) because another device answered the probe.',
    [],
    m.declines,
  );
  counter(
    registry,
    'lan_reflector_dhcp_releases_total',
    'DHCP leases released (DHCPRELEASE) on CNI DEL.',
    [],
    m.releases,
  );
}
