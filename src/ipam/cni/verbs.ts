// The six CNI operations (CNI spec 1.1 section 2) over an AddressProvider and a store. Each returns
// a Reply: an exit code and stdout for the runtime, or "run the delegate plugin with this stdin"
// (the shim does that on the host, as a main plugin calls its IPAM: section 4).
import type { IpamConfig, IPv4Address } from '../../config/types.js';
import { routeFor } from '../allocator.js';
import { bridgeOf, type HostRoutes } from '../host-routes.js';
import type { IpamStore } from '../store/types.js';
import { IpamError, ownerKey, type AddressProvider, type Owner, type PodRef } from '../types.js';
import { parseRequest, isCniError, type CniRequest } from './request.js';
import { CNI_ERR, SUPPORTED_VERSIONS, cniError, ipamResult, type CniError } from './result.js';

export type Reply =
  | { kind: 'reply'; code: number; stdout: string }
  /** Run `plugin` from CNI_PATH with the runtime's env and `stdin`; its exit code and stdout are the answer. */
  | { kind: 'delegate'; plugin: string; stdin: string };

/** Which attachments were handed to the delegate (so DEL and CHECK go there too). */
export interface Delegations {
  record(owner: Owner, stdin: string): Promise<void>;
  has(owner: Owner): Promise<boolean>;
  forget(owner: Owner): Promise<void>;
  list(): Promise<Owner[]>;
}

/** The pod's lan-address annotation; undefined = the pod has none. Throws IpamError(11) when it cannot tell. */
export interface PodAnnotationLookup {
  lanAddress(pod: PodRef): Promise<string | undefined>;
}

export interface VerbDeps {
  config: IpamConfig;
  provider: AddressProvider;
  store: IpamStore;
  delegations: Delegations;
  /** Undefined without Kubernetes: then every ADD gets a LAN address. */
  pods?: PodAnnotationLookup;
  /** The gateway handed to pods (`node` resolved to the node's LAN address). */
  gateway(): IPv4Address | undefined;
  /** The node's /32 route to a pod on a bridge (the bridge plugin adds none). */
  hostRoutes?: HostRoutes;
  /** Why ADD cannot be served now (STATUS), or undefined when it can. */
  unavailable(): Promise<string | undefined>;
  log?(level: 'info' | 'warn', message: string, fields: Record<string, unknown>): void;
}

const ok = (stdout = ''): Reply => ({ kind: 'reply', code: 0, stdout });
const fail = (e: CniError): Reply => ({ kind: 'reply', code: 1, stdout: JSON.stringify(e) });

/** The complete network configuration with the delegate's section as `ipam` (CNI spec 1.1 section 4). */
function forDelegate(req: CniRequest, delegate: Record<string, unknown>): string {
  // What flannel put into our section (its node subnet as `ranges`) fills what ipam.delegate leaves out.
  const { type: _t, socket: _s, ...fromCni } = (req.config.ipam ?? {}) as Record<string, unknown>;
  return JSON.stringify({ ...req.config, ipam: { ...fromCni, ...delegate } });
}

function podOf(req: CniRequest): PodRef | undefined {
  const ns = req.args.K8S_POD_NAMESPACE;
  const name = req.args.K8S_POD_NAME;
  if (!ns || !name) return undefined;
  return req.args.K8S_POD_UID ? { namespace: ns, name, uid: req.args.K8S_POD_UID } : { namespace: ns, name };
}

const networkOf = (req: CniRequest): string => (typeof req.config.name === 'string' ? req.config.name : '');

function errorReply(req: CniRequest, err: unknown): Reply {
  if (err instanceof IpamError) return fail(cniError(req.cniVersion, err.code, err.message, err.details));
  const e = err as NodeJS.ErrnoException;
  // The store could not be written: an I/O failure the runtime may retry.
  return fail(
    cniError(
      req.cniVersion,
      e?.code ? CNI_ERR.io : CNI_ERR.tryAgain,
      'lan-reflector-ipam failed',
      String(e?.message ?? err),
    ),
  );
}

export async function handle(env: Record<string, string>, stdin: string, deps: VerbDeps): Promise<Reply> {
  const req = parseRequest(env, stdin);
  if (isCniError(req)) return fail(req);
  try {
    switch (req.command) {
      case 'VERSION':
        return ok(
          JSON.stringify({
            cniVersion: typeof req.config.cniVersion === 'string' ? req.config.cniVersion : req.cniVersion,
            supportedVersions: SUPPORTED_VERSIONS,
          }),
        );
      case 'ADD':
        return await add(req, deps);
      case 'DEL':
        return await del(req, deps);
      case 'CHECK':
        return await check(req, deps);
      case 'GC':
        return await gc(req, deps);
      case 'STATUS':
        return await status(req, deps);
    }
  } catch (err) {
    return errorReply(req, err);
  }
}

async function add(req: CniRequest, deps: VerbDeps): Promise<Reply> {
  const started = performance.now();
  const owner = { containerId: req.containerId, ifname: req.ifname };
  const pod = podOf(req);
  // Without Kubernetes there is nobody to ask: every ADD gets a LAN address (pins still apply).
  const route = deps.pods
    ? routeFor(deps.config, pod, pod ? await deps.pods.lanAddress(pod) : undefined)
    : routeFor({ ...deps.config, delegate: undefined }, pod, undefined);
  if (route.kind === 'refuse')
    return fail(cniError(req.cniVersion, 101, 'cannot give this pod a LAN address', route.why));
  if (route.kind === 'delegate') {
    const stdin = forDelegate(req, deps.config.delegate!);
    await deps.delegations.record(owner, stdin);
    deps.log?.('info', 'ADD delegated', {
      owner: ownerKey(owner),
      pod,
      plugin: deps.config.delegate!.type,
      why: route.why,
    });
    return { kind: 'delegate', plugin: deps.config.delegate!.type, stdin };
  }
  const a = await deps.provider.assign({ owner, network: networkOf(req), pod, want: route.want });
  const bridge = bridgeOf(req.config);
  if (bridge && deps.hostRoutes) {
    try {
      await deps.hostRoutes.add(a.address, bridge);
    } catch (err) {
      // STYLE.md 7: give back what this ADD took when a later step fails.
      await deps.provider.release(owner);
      throw new IpamError(
        5,
        `cannot route ${a.address} to bridge ${bridge} on the node`,
        (err as Error).message,
      );
    }
  }
  deps.log?.('info', 'address assigned', {
    address: a.address,
    owner: ownerKey(owner),
    pod,
    why: route.why,
    ms: Math.round((performance.now() - started) * 10) / 10,
  });
  const result = ipamResult(req.cniVersion, {
    address: a.address,
    prefix: deps.config.subnet.prefix,
    gateway: deps.gateway(),
    routes: deps.config.routes,
  });
  return ok(JSON.stringify(result));
}

async function del(req: CniRequest, deps: VerbDeps): Promise<Reply> {
  const owner = { containerId: req.containerId, ifname: req.ifname };
  if (await deps.delegations.has(owner)) {
    // The shim forgets the record once the delegate's DEL succeeded.
    return {
      kind: 'delegate',
      plugin: String(deps.config.delegate?.type ?? 'host-local'),
      stdin: forDelegate(req, deps.config.delegate ?? {}),
    };
  }
  // CNI spec 1.1, DEL: "Plugins MUST accept multiple DEL calls ... and return success".
  const gone = await deps.provider.release(owner);
  const bridge = bridgeOf(req.config);
  if (bridge && deps.hostRoutes) for (const a of gone) await deps.hostRoutes.remove(a.address, bridge);
  for (const a of gone)
    deps.log?.('info', 'address released', { address: a.address, owner: ownerKey(owner) });
  return ok();
}

/** The addresses a CNI result lists, without prefix (any version: `ips[].address` is CIDR in all). */
function resultAddresses(prev: unknown): string[] {
  const ips = (prev as { ips?: Array<{ address?: unknown }> } | undefined)?.ips;
  return Array.isArray(ips) ? ips.map((i) => String(i.address ?? '')) : [];
}

async function check(req: CniRequest, deps: VerbDeps): Promise<Reply> {
  const owner = { containerId: req.containerId, ifname: req.ifname };
  if (await deps.delegations.has(owner))
    return {
      kind: 'delegate',
      plugin: String(deps.config.delegate?.type),
      stdin: forDelegate(req, deps.config.delegate ?? {}),
    };
  // CNI spec 1.1, CHECK: "The plugin must consult the prevResult".
  const prev = req.config.prevResult;
  if (prev === undefined)
    return fail(
      cniError(
        req.cniVersion,
        CNI_ERR.invalidConfig,
        'CHECK needs prevResult',
        'the runtime passes the result of the preceding ADD as prevResult',
      ),
    );
  const held = await deps.store.getByOwner(owner);
  if (held.length === 0)
    return fail(
      cniError(
        req.cniVersion,
        104,
        'no address is reserved for this attachment',
        `container ${req.containerId} interface ${req.ifname}`,
      ),
    );
  const want = `${held[0].address}/${deps.config.subnet.prefix}`;
  const listed = resultAddresses(prev);
  if (!listed.includes(want))
    return fail(
      cniError(
        req.cniVersion,
        104,
        'prevResult does not match the reservation',
        `reserved ${want}, prevResult lists ${listed.join(', ') || 'no address'}`,
      ),
    );
  return ok();
}

async function gc(req: CniRequest, deps: VerbDeps): Promise<Reply> {
  const raw = req.config['cni.dev/valid-attachments'];
  if (!Array.isArray(raw))
    return fail(
      cniError(
        req.cniVersion,
        CNI_ERR.invalidConfig,
        'GC needs cni.dev/valid-attachments',
        'a list of {containerID, ifname}',
      ),
    );
  const valid = new Set(
    raw.map((x: { containerID?: unknown; ifname?: unknown }) =>
      ownerKey({ containerId: String(x?.containerID ?? ''), ifname: String(x?.ifname ?? '') }),
    ),
  );
  const network = networkOf(req);
  const errors: string[] = [];
  // GC is per network: only this network's attachments are ours to judge (CNI spec 1.1, GC).
  for (const a of await deps.store.list()) {
    if (a.network !== network || valid.has(ownerKey(a.owner))) continue;
    try {
      await deps.provider.release(a.owner);
      deps.log?.('info', 'address collected (GC)', { address: a.address, owner: ownerKey(a.owner) });
    } catch (err) {
      errors.push(`${a.address}: ${(err as Error).message}`); // continue: remove as much as possible
    }
  }
  for (const o of await deps.delegations.list())
    if (!valid.has(ownerKey(o))) await deps.delegations.forget(o);
  if (errors.length)
    return fail(
      cniError(req.cniVersion, CNI_ERR.io, 'GC could not release every stale address', errors.join('; ')),
    );
  // "Plugins MUST ... forward any GC calls to delegated plugins."
  if (deps.config.delegate)
    return {
      kind: 'delegate',
      plugin: deps.config.delegate.type,
      stdin: forDelegate(req, deps.config.delegate),
    };
  return ok();
}

async function status(req: CniRequest, deps: VerbDeps): Promise<Reply> {
  const why = await deps.unavailable();
  // CNI spec 1.1, STATUS: 50 = cannot service ADD. Only then: containerd marks the node not ready.
  if (why)
    return fail(cniError(req.cniVersion, CNI_ERR.notAvailable, 'lan-reflector-ipam cannot serve ADD', why));
  if (deps.config.delegate)
    return {
      kind: 'delegate',
      plugin: deps.config.delegate.type,
      stdin: forDelegate(req, deps.config.delegate),
    };
  return ok();
}
