// The Kubernetes manifests, checked offline: `kubectl kustomize` renders them (no cluster needed),
// every object is validated against the Kubernetes OpenAPI schema, and the properties the design
// depends on (network namespace, capabilities, RBAC, probes, opt-in annotations) are asserted with
// their concrete values.
//
// Schema validation has two halves:
// - kubernetes-models: per-kind classes whose validate() runs the Kubernetes OpenAPI schema
//   (compiled with ajv, bundled in the npm package): types, required fields, enums, formats.
// - the OpenAPI schema says nothing about unknown fields (no additionalProperties), yet the API
//   server rejects them (kubectl's default --validate=strict). So every field name is also checked
//   against the attribute maps that @kubernetes/client-node (already a dependency) generates from
//   the same OpenAPI spec — a typo like `hostNetwrk` would otherwise render, validate and then
//   silently do nothing.

import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import * as k8s from '@kubernetes/client-node';
import type {
  RbacV1Subject,
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1ConfigMap,
  V1Container,
  V1DaemonSet,
  V1Deployment,
  V1Namespace,
  V1PersistentVolumeClaim,
  V1PodSpec,
  V1Probe,
} from '@kubernetes/client-node';
import { DaemonSet, Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Namespace, PersistentVolumeClaim, Service, ServiceAccount } from 'kubernetes-models/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { loadConfig } from '../../src/config/load.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BASE_DIR = join(ROOT, 'manifests');
const EXAMPLE_DIR = join(ROOT, 'manifests', 'examples', 'home-assistant');

const IMAGE = 'ghcr.io/lan-reflector/lan-reflector:0.1.0';
const NAMESPACE = 'lan-reflector';
const METRICS_PORT = 9412;

type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
} & Record<string, unknown>;

interface Kind {
  /** kubernetes-models class: validate() checks the object against the OpenAPI schema. */
  model: new (data: any) => { validate(): void };
  /** @kubernetes/client-node model generated from the same spec: the field names it knows. */
  clientType: string;
  namespaced: boolean;
}

const KINDS: Record<string, Kind> = {
  'v1/Namespace': { model: Namespace, clientType: 'V1Namespace', namespaced: false },
  'v1/ServiceAccount': { model: ServiceAccount, clientType: 'V1ServiceAccount', namespaced: true },
  'v1/ConfigMap': { model: ConfigMap, clientType: 'V1ConfigMap', namespaced: true },
  'v1/Service': { model: Service, clientType: 'V1Service', namespaced: true },
  'v1/PersistentVolumeClaim': {
    model: PersistentVolumeClaim,
    clientType: 'V1PersistentVolumeClaim',
    namespaced: true,
  },
  'apps/v1/DaemonSet': { model: DaemonSet, clientType: 'V1DaemonSet', namespaced: true },
  'apps/v1/Deployment': { model: Deployment, clientType: 'V1Deployment', namespaced: true },
  'rbac.authorization.k8s.io/v1/ClusterRole': {
    model: ClusterRole,
    clientType: 'V1ClusterRole',
    namespaced: false,
  },
  'apiextensions.k8s.io/v1/CustomResourceDefinition': {
    model: CustomResourceDefinition,
    clientType: 'V1CustomResourceDefinition',
    namespaced: false,
  },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': {
    model: ClusterRoleBinding,
    clientType: 'V1ClusterRoleBinding',
    namespaced: false,
  },
};

function kustomize(dir: string): string {
  try {
    return execFileSync('kubectl', ['kustomize', dir], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT')
      throw new Error('kubectl is not on PATH: these tests render the manifests with `kubectl kustomize`');
    throw new Error(`kubectl kustomize ${dir} failed: ${e.stderr ?? e.message}`);
  }
}

function parseObjects(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    assert.deepEqual(doc.errors, [], 'kustomize output is valid YAML');
    const value: unknown = doc.toJS();
    if (value === null) continue;
    assert.ok(isRecord(value), 'every YAML document is an object');
    assert.equal(typeof value.apiVersion, 'string', 'every object has an apiVersion');
    assert.equal(typeof value.kind, 'string', 'every object has a kind');
    objects.push(value as K8sObject);
  }
  return objects;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function kindOf(obj: K8sObject): string {
  return `${obj.apiVersion}/${obj.kind}`;
}

interface AttributeMap {
  getAttributeTypeMap(): Array<{ baseName: string; type: string }>;
}

/** Field paths that the Kubernetes API would reject as unknown (kubectl --validate=strict). */
function unknownFields(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, array[1], `${path}[${i}]`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (isRecord(value))
      for (const [k, v] of Object.entries(value)) unknownFields(v, map[1], `${path}.${k}`, out);
    return;
  }
  if (['string', 'number', 'boolean', 'Date', 'any', 'object', 'IntOrString'].includes(type)) return;
  const model = (k8s as unknown as Record<string, unknown>)[type];
  if (typeof model !== 'function' || !('getAttributeTypeMap' in model)) {
    out.push(`${path} (no model for type ${type}: cannot check its fields)`);
    return;
  }
  if (!isRecord(value)) return; // a wrong type is the schema validator's finding
  const known = new Map((model as AttributeMap).getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [key, v] of Object.entries(value)) {
    const t = known.get(key);
    if (t === undefined) out.push(`${path}.${key}`);
    else unknownFields(v, t, `${path}.${key}`, out);
  }
}

/** Schema errors and unknown fields of one object; empty when the API server would accept it. */
function schemaProblems(obj: K8sObject): string[] {
  const kind = KINDS[kindOf(obj)];
  if (!kind) return [`${kindOf(obj)}: no schema known to this test for this kind`];
  const problems: string[] = [];
  try {
    new kind.model(obj).validate();
  } catch (err) {
    problems.push(`${kindOf(obj)} ${obj.metadata.name}: ${(err as Error).message}`);
  }
  const unknown: string[] = [];
  unknownFields(obj, kind.clientType, obj.kind, unknown);
  for (const u of unknown) problems.push(`${kindOf(obj)} ${obj.metadata.name}: unknown field ${u}`);
  return problems;
}

function one<T>(objects: K8sObject[], kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(found.length, 1, `exactly one ${kind}${name ? ` named ${name}` : ''} is rendered`);
  return found[0] as unknown as T;
}

function containerOf(spec: V1PodSpec | undefined): V1Container {
  assert.ok(spec, 'the pod template has a spec');
  assert.equal(spec.containers.length, 1, 'the pod has exactly one container');
  return spec.containers[0];
}

function sorted(xs: readonly string[] | undefined): string[] {
  return [...(xs ?? [])].sort();
}

describe('manifests/ (the kustomize base)', function () {
  this.timeout(30_000);
  let objects: K8sObject[];
  let ds: V1DaemonSet;
  let pod: V1PodSpec;
  let agent: V1Container;

  before(function () {
    objects = parseObjects(kustomize(BASE_DIR));
    ds = one<V1DaemonSet>(objects, 'DaemonSet', 'lan-reflector');
    pod = ds.spec!.template.spec!;
    agent = containerOf(pod);
  });

  it('renders exactly Namespace, ServiceAccount, ClusterRole, ClusterRoleBinding, ConfigMap, DaemonSet and the IPAM CRDs — no example workload', function () {
    assert.deepEqual(objects.map((o) => o.kind).sort(), [
      'ClusterRole',
      'ClusterRoleBinding',
      'ConfigMap',
      'CustomResourceDefinition',
      'CustomResourceDefinition',
      'DaemonSet',
      'Namespace',
      'ServiceAccount',
    ]);
  });

  it('passes the Kubernetes OpenAPI schema with no unknown field, object by object', function () {
    assert.deepEqual(objects.flatMap(schemaProblems), []);
  });

  it('puts every namespaced object in the lan-reflector namespace, which allows privileged pods', function () {
    for (const obj of objects) {
      const kind = KINDS[kindOf(obj)];
      assert.ok(kind, `${kindOf(obj)} is a known kind`);
      assert.equal(
        obj.metadata.namespace,
        kind.namespaced ? NAMESPACE : undefined,
        `${obj.kind} ${obj.metadata.name}`,
      );
    }
    const ns = one<V1Namespace>(objects, 'Namespace', NAMESPACE);
    assert.equal(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
  });

  describe('RBAC', function () {
    it('lets the agent read pods, write events and keep its own IPAM resources, and nothing else', function () {
      const role = one<V1ClusterRole>(objects, 'ClusterRole', 'lan-reflector');
      assert.equal(role.aggregationRule, undefined, 'no aggregation can widen the role');
      const rules = (role.rules ?? []).map((r) => ({
        apiGroups: sorted(r.apiGroups),
        resources: sorted(r.resources),
        verbs: sorted(r.verbs),
        resourceNames: r.resourceNames,
        nonResourceURLs: r.nonResourceURLs,
      }));
      const expected = (group: string, resource: string | string[], verbs: string[]) => ({
        apiGroups: [group],
        resources: sorted([resource].flat()),
        verbs: [...verbs].sort(),
        resourceNames: undefined,
        nonResourceURLs: undefined,
      });
      assert.deepEqual(rules, [
        expected('', 'pods', ['get', 'list', 'watch']),
        expected('', 'events', ['create', 'patch']),
        expected('events.k8s.io', 'events', ['create', 'patch']),
        // issue 11: claims are creates, updates are replaces guarded by resourceVersion (no patch)
        expected(
          'ipam.lan-reflector.io',
          ['ipblocks', 'ipallocations'],
          ['get', 'list', 'create', 'update', 'delete'],
        ),
      ]);
    });

    it('binds that ClusterRole to the service account the DaemonSet runs as', function () {
      const binding = one<V1ClusterRoleBinding>(objects, 'ClusterRoleBinding');
      assert.deepEqual(binding.roleRef, {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: 'lan-reflector',
      });
      const subjects: RbacV1Subject[] = binding.subjects ?? [];
      assert.deepEqual(subjects, [
        { kind: 'ServiceAccount', name: pod.serviceAccountName, namespace: NAMESPACE },
      ]);
      one(objects, 'ServiceAccount', pod.serviceAccountName);
    });
  });

  describe('DaemonSet', function () {
    it('runs in the node network namespace and keeps cluster DNS', function () {
      assert.equal(pod.hostNetwork, true);
      assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
      assert.equal(pod.hostPID, undefined);
      assert.equal(pod.hostIPC, undefined);
    });

    it('gives the agent exactly NET_RAW and NET_ADMIN, unprivileged, without escalation, on a read-only root', function () {
      const sc = agent.securityContext;
      assert.ok(sc, 'the container has a securityContext');
      assert.deepEqual(sc.capabilities?.drop, ['ALL']);
      assert.deepEqual(sorted(sc.capabilities?.add), ['NET_ADMIN', 'NET_RAW']);
      assert.equal(sc.privileged, false);
      assert.equal(sc.allowPrivilegeEscalation, false);
      assert.equal(sc.readOnlyRootFilesystem, true);
      assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault');
      assert.equal(pod.initContainers, undefined, 'no init container with other rights');
    });

    it('starts `lan-reflector agent` with the config file, Kubernetes mode and metrics on port 9412', function () {
      assert.deepEqual(
        [...(agent.command ?? []), ...(agent.args ?? [])],
        [
          'lan-reflector',
          'agent',
          '--config',
          '/etc/lan-reflector/config.yaml',
          '--kubernetes',
          '--metrics-address',
          `0.0.0.0:${METRICS_PORT}`,
        ],
      );
      assert.deepEqual(agent.ports, [{ name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' }]);
    });

    it('probes readiness on /readyz and liveness on /healthz of the metrics server, over loopback', function () {
      const check = (probe: V1Probe | undefined, path: string) => {
        assert.ok(probe?.httpGet, `an httpGet probe for ${path}`);
        assert.equal(probe.httpGet.path, path);
        assert.equal(probe.httpGet.port, METRICS_PORT);
        assert.equal(probe.httpGet.host, '127.0.0.1');
        assert.equal(probe.httpGet.scheme ?? 'HTTP', 'HTTP');
      };
      check(agent.readinessProbe, '/readyz');
      check(agent.livenessProbe, '/healthz');
    });

    it('tolerates every taint, so it runs on every node', function () {
      assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
      assert.equal(pod.nodeSelector, undefined);
      assert.equal(pod.affinity, undefined);
    });

    it('rolls one node at a time', function () {
      assert.deepEqual(ds.spec!.updateStrategy, {
        type: 'RollingUpdate',
        rollingUpdate: { maxUnavailable: 1 },
      });
    });

    it('is system-node-critical and stops within about 10 seconds', function () {
      assert.equal(pod.priorityClassName, 'system-node-critical');
      assert.equal(pod.terminationGracePeriodSeconds, 10);
    });

    it('requests 20m CPU and 80Mi (idle RSS), and limits memory to 192Mi (above every measured peak)', function () {
      assert.deepEqual(agent.resources, {
        requests: { cpu: '20m', memory: '80Mi' },
        limits: { memory: '192Mi' },
      });
    });

    it('learns its node name from the downward API', function () {
      assert.deepEqual(agent.env, [
        { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      ]);
    });

    it('mounts the generated ConfigMap read-only, the node’s /run/lan-reflector and a scratch /tmp', function () {
      const cm = one<V1ConfigMap>(objects, 'ConfigMap');
      assert.match(
        cm.metadata!.name!,
        /^lan-reflector-config-[a-z0-9]+$/,
        'a content-hashed name: config edits roll the pods',
      );
      const mounts = Object.fromEntries((agent.volumeMounts ?? []).map((m) => [m.mountPath, m]));
      const volumes = Object.fromEntries((pod.volumes ?? []).map((v) => [v.name, v]));
      assert.deepEqual(Object.keys(mounts).sort(), ['/etc/lan-reflector', '/run/lan-reflector', '/tmp']);

      const config = mounts['/etc/lan-reflector'];
      assert.equal(config.readOnly, true);
      assert.deepEqual(volumes[config.name].configMap, { name: cm.metadata!.name });

      const run = mounts['/run/lan-reflector'];
      assert.notEqual(run.readOnly, true, 'the agent creates its control socket there');
      assert.deepEqual(volumes[run.name].hostPath, { path: '/run/lan-reflector', type: 'DirectoryOrCreate' });

      const tmp = mounts['/tmp'];
      assert.ok(volumes[tmp.name].emptyDir, '/tmp is an emptyDir');
      assert.equal(Object.keys(volumes).length, 3, 'no other volume (no other hostPath)');
    });

    it('runs ghcr.io/lan-reflector/lan-reflector:0.1.0, an image an overlay can override', function () {
      assert.equal(agent.image, IMAGE);
      const overlay = mkdtempSync(join(tmpdir(), 'lan-reflector-overlay-'));
      try {
        writeFileSync(
          join(overlay, 'kustomization.yaml'),
          [
            'resources:',
            `  - ${relative(overlay, BASE_DIR)}`,
            'images:',
            '  - name: ghcr.io/lan-reflector/lan-reflector',
            '    newName: registry.example/me/lan-reflector',
            '    newTag: 9.9.9',
            '',
          ].join('\n'),
        );
        const overridden = one<V1DaemonSet>(parseObjects(kustomize(overlay)), 'DaemonSet');
        assert.equal(
          containerOf(overridden.spec!.template.spec).image,
          'registry.example/me/lan-reflector:9.9.9',
        );
      } finally {
        rmSync(overlay, { recursive: true, force: true });
      }
    });
  });

  describe('ConfigMap config.yaml', function () {
    let text: string;
    let config: Record<string, unknown>;

    before(function () {
      const cm = one<V1ConfigMap>(objects, 'ConfigMap');
      assert.deepEqual(Object.keys(cm.data ?? {}), ['config.yaml']);
      text = cm.data!['config.yaml'];
      const parsed: unknown = parse(text);
      assert.ok(isRecord(parsed), 'config.yaml is a YAML mapping');
      config = parsed;
    });

    it('is the file the agent’s --config names', function () {
      const args = agent.args ?? [];
      const configPath = args[args.indexOf('--config') + 1];
      const mount = (agent.volumeMounts ?? []).find(
        (m) => m.name === (pod.volumes ?? []).find((v) => v.configMap)?.name,
      );
      assert.ok(mount, 'the ConfigMap volume is mounted');
      assert.equal(configPath, `${mount.mountPath}/config.yaml`);
    });

    it('uses the agent’s camelCase keys with the documented example values', function () {
      assert.deepEqual(Object.keys(config).sort(), [
        'broadcastPorts',
        'controlSocket',
        'lanInterface',
        'log',
        'multicastGroups',
        'protocols',
        'rateLimit',
        'sourceMode',
      ]);
      assert.equal(typeof config.lanInterface, 'string');
      assert.notEqual(config.lanInterface, '');
      assert.deepEqual(config.protocols, ['mdns', 'ssdp', 'broadcast']);
      assert.deepEqual(config.broadcastPorts, ['wiz', 'kasa', 'lifx', 'tuya']);
      assert.deepEqual(config.multicastGroups, ['239.255.255.250:1982']);
      assert.equal(config.sourceMode, 'auto');
      assert.deepEqual(config.log, { level: 'info', format: 'json' });
      const rateLimit = config.rateLimit;
      assert.ok(isRecord(rateLimit));
      assert.deepEqual(Object.keys(rateLimit).sort(), [
        'perPodBurst',
        'perPodPps',
        'perSourceBurst',
        'perSourcePps',
      ]);
      for (const [key, value] of Object.entries(rateLimit)) {
        assert.ok(Number.isInteger(value) && (value as number) > 0, `rateLimit.${key} is a positive integer`);
      }
    });

    it('is accepted by the agent’s own config loader, with the DaemonSet’s flags and NODE_NAME', function () {
      const dir = mkdtempSync(join(tmpdir(), 'lan-reflector-config-'));
      try {
        const file = join(dir, 'config.yaml');
        writeFileSync(file, text);
        const args = agent.args ?? [];
        assert.deepEqual(args.slice(0, 1), ['agent']);
        const config = loadConfig(
          {
            config: file,
            kubernetes: args.includes('--kubernetes'),
            metricsAddress: args[args.indexOf('--metrics-address') + 1],
          },
          { NODE_NAME: 'node-1' },
        );
        assert.equal(config.lanInterface, 'eth0');
        assert.deepEqual(config.protocols.slice(0, 3), ['mdns', 'ssdp', 'broadcast']);
        assert.deepEqual(config.broadcastPorts, [38899, 9999, 56700, 6666, 6667]);
        assert.deepEqual(config.multicastGroups, [{ group: '239.255.255.250', port: 1982 }]);
        assert.equal(config.controlSocket, '/run/lan-reflector/control.sock');
        assert.equal(config.metricsAddress, `0.0.0.0:${METRICS_PORT}`);
        assert.deepEqual(config.kubernetes, { enabled: true, nodeName: 'node-1' });
        assert.deepEqual(config.log, { level: 'info', format: 'json' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('puts the control socket on the hostPath, where the CLI on the node finds it', function () {
      assert.equal(config.controlSocket, '/run/lan-reflector/control.sock');
      const run = (pod.volumes ?? []).find((v) => v.hostPath?.path === '/run/lan-reflector');
      assert.ok(run, 'a hostPath volume for /run/lan-reflector');
      const mount = (agent.volumeMounts ?? []).find((m) => m.name === run.name);
      assert.equal(mount?.mountPath, '/run/lan-reflector');
    });

    it('tells the user, right above it, that lanInterface must be set', function () {
      const lines = text.split('\n');
      const at = lines.findIndex((l) => l.startsWith('lanInterface:'));
      assert.ok(at > 0, 'lanInterface is a top-level line');
      let start = at;
      while (start > 0 && lines[start - 1].startsWith('#')) start--;
      const comment = lines.slice(start, at).join(' ');
      assert.match(comment, /REQUIRED/);
      assert.match(comment, /set this/i);
    });
  });
});

describe('manifests/examples/home-assistant', function () {
  this.timeout(30_000);
  let objects: K8sObject[];
  let deployment: V1Deployment;

  before(function () {
    objects = parseObjects(kustomize(EXAMPLE_DIR));
    deployment = one<V1Deployment>(objects, 'Deployment', 'home-assistant');
  });

  it('is a kustomization of its own that the base does not include', function () {
    const base: unknown = parse(readFileSync(join(BASE_DIR, 'kustomization.yaml'), 'utf8'));
    assert.ok(isRecord(base) && Array.isArray(base.resources));
    assert.ok(base.resources.every((r: unknown) => typeof r === 'string' && !r.startsWith('examples')));
    assert.deepEqual(objects.map((o) => o.kind).sort(), [
      'Deployment',
      'Namespace',
      'PersistentVolumeClaim',
      'Service',
    ]);
  });

  it('passes the Kubernetes OpenAPI schema with no unknown field, object by object', function () {
    assert.deepEqual(objects.flatMap(schemaProblems), []);
  });

  it('opts its pods in with the lan-reflector.io annotations, as strings', function () {
    const annotations = deployment.spec!.template.metadata?.annotations;
    assert.deepEqual(annotations, {
      'lan-reflector.io/enabled': 'true',
      'lan-reflector.io/protocols': 'mdns,ssdp,broadcast',
      'lan-reflector.io/direction': 'both',
    });
  });

  it('runs Home Assistant stable as an ordinary pod with /config on its claim', function () {
    const spec = deployment.spec!.template.spec!;
    const ha = containerOf(spec);
    assert.equal(ha.image, 'ghcr.io/home-assistant/home-assistant:stable');
    assert.equal(spec.hostNetwork, undefined, 'the point of lan-reflector: no hostNetwork');
    assert.equal(deployment.spec!.replicas, 1);
    assert.equal(deployment.spec!.strategy?.type, 'Recreate');
    const mount = (ha.volumeMounts ?? []).find((m) => m.mountPath === '/config');
    assert.ok(mount, '/config is mounted');
    const volume = (spec.volumes ?? []).find((v) => v.name === mount.name);
    const claim = volume?.persistentVolumeClaim?.claimName;
    assert.equal(claim, 'home-assistant-config');
    const pvc = one<V1PersistentVolumeClaim>(objects, 'PersistentVolumeClaim', claim);
    assert.equal(pvc.metadata?.namespace, deployment.metadata?.namespace);
  });
});

describe('the schema check itself', function () {
  const daemonSet = (podSpec: Record<string, unknown>): K8sObject => ({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'probe' },
    spec: {
      selector: { matchLabels: { app: 'probe' } },
      template: {
        metadata: { labels: { app: 'probe' } },
        spec: { containers: [{ name: 'c', image: 'i' }], ...podSpec },
      },
    },
  });

  it('accepts a minimal valid DaemonSet', function () {
    assert.deepEqual(schemaProblems(daemonSet({ hostNetwork: true })), []);
  });

  it('rejects a field of the wrong type', function () {
    const problems = schemaProblems(daemonSet({ hostNetwork: 'yes' }));
    assert.equal(problems.length, 1);
    assert.match(problems[0], /hostNetwork must be boolean/);
  });

  it('rejects a misspelled field that the OpenAPI schema alone would let through', function () {
    assert.deepEqual(schemaProblems(daemonSet({ hostNetwrk: true })), [
      'apps/v1/DaemonSet probe: unknown field DaemonSet.spec.template.spec.hostNetwrk',
    ]);
  });

  it('rejects an unknown field deep inside a container', function () {
    const obj = daemonSet({
      containers: [{ name: 'c', image: 'i', securityContext: { capabilities: { ad: ['NET_RAW'] } } }],
    });
    assert.deepEqual(schemaProblems(obj), [
      'apps/v1/DaemonSet probe: unknown field DaemonSet.spec.template.spec.containers[0].securityContext.capabilities.ad',
    ]);
  });
});
