// Custom resources for the fake API server, as apiextensions.k8s.io/v1 serves them: a resource exists
// only once its CustomResourceDefinition is registered (until then its paths are 404, as on a cluster
// where the CRD was never applied), it is served at the CRD's versions and scope only, and every
// object written is pruned and validated against the version's structural schema. Pruning drops
// fields the schema does not name (the real server's default: an agent writing a field its CRD
// forgot loses it silently, and the tests notice); validation answers 422 Invalid with the field path.
// Covered: type, properties, required, items, enum, pattern, minimum/maximum, minLength/maxLength,
// maxItems, additionalProperties (maps), x-kubernetes-preserve-unknown-fields, nullable. Not covered:
// CEL rules, formats, defaulting, conversion, status/scale subresources.
import { ApiError, type KubeObject } from './fake-apiserver.js';

export interface Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  nullable?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

export interface CrdInfo {
  group: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  /** Served versions and their schemas. */
  versions: Map<string, Schema | undefined>;
}

/** Reads what the fake needs from a CustomResourceDefinition object; throws on one the real server would refuse. */
export function crdInfo(crd: KubeObject): CrdInfo {
  const spec = crd.spec;
  if (crd.apiVersion !== 'apiextensions.k8s.io/v1' || crd.kind !== 'CustomResourceDefinition')
    throw new ApiError(400, 'BadRequest', 'not an apiextensions.k8s.io/v1 CustomResourceDefinition');
  const { group, names, scope } = spec ?? {};
  if (crd.metadata?.name !== `${names?.plural}.${group}`)
    throw new ApiError(422, 'Invalid', `metadata.name: must be spec.names.plural+"."+spec.group`);
  if (scope !== 'Cluster' && scope !== 'Namespaced')
    throw new ApiError(422, 'Invalid', `spec.scope: Unsupported value: "${scope}"`);
  const versions = new Map<string, Schema | undefined>();
  const all = (spec.versions ?? []) as Array<{
    name: string;
    served: boolean;
    storage: boolean;
    schema?: any;
  }>;
  if (all.filter((v) => v.storage).length !== 1)
    throw new ApiError(422, 'Invalid', 'spec.versions: exactly one version must be the storage version');
  for (const v of all) {
    // apiextensions.k8s.io/v1 requires a structural schema per version.
    if (!v.schema?.openAPIV3Schema)
      throw new ApiError(422, 'Invalid', `spec.versions[${v.name}].schema.openAPIV3Schema: Required value`);
    if (v.served) versions.set(v.name, v.schema.openAPIV3Schema);
  }
  return { group, plural: names.plural, kind: names.kind, namespaced: scope === 'Namespaced', versions };
}

/**
 * Prunes `obj` in place to what `schema` names and returns the validation errors, as
 * `field.path: message`. apiVersion, kind and metadata are the server's own and never pruned.
 */
export function pruneAndValidate(obj: KubeObject, schema: Schema | undefined): string[] {
  if (!schema) return [];
  const errors: string[] = [];
  const top = { ...schema, properties: { ...schema.properties } };
  for (const k of ['apiVersion', 'kind', 'metadata']) delete top.properties[k];
  const rest: KubeObject = {};
  for (const [k, v] of Object.entries(obj)) if (!['apiVersion', 'kind', 'metadata'].includes(k)) rest[k] = v;
  const pruned = walk(rest, top, '', errors);
  for (const k of Object.keys(obj)) if (!['apiVersion', 'kind', 'metadata'].includes(k)) delete obj[k];
  Object.assign(obj, pruned);
  return errors;
}

function walk(value: unknown, s: Schema, path: string, errors: string[]): unknown {
  const at = path || '<root>';
  if (value === null) {
    if (!s.nullable) errors.push(`${at}: Invalid value: "null": must not be null`);
    return value;
  }
  if (s.type && !hasType(value, s.type)) {
    errors.push(`${at}: Invalid value: ${JSON.stringify(value)}: must be of type ${s.type}`);
    return value;
  }
  if (s.enum && !s.enum.some((e) => e === value))
    errors.push(`${at}: Unsupported value: ${JSON.stringify(value)}: supported values: ${s.enum.join(', ')}`);
  if (typeof value === 'string') {
    if (s.pattern && !new RegExp(s.pattern).test(value))
      errors.push(`${at}: Invalid value: "${value}": must match '${s.pattern}'`);
    if (s.maxLength !== undefined && value.length > s.maxLength)
      errors.push(`${at}: Too long: may not be longer than ${s.maxLength}`);
    if (s.minLength !== undefined && value.length < s.minLength)
      errors.push(`${at}: Invalid value: "${value}": should be at least ${s.minLength} chars long`);
  }
  if (typeof value === 'number') {
    if (s.minimum !== undefined && value < s.minimum)
      errors.push(`${at}: Invalid value: ${value}: should be greater than or equal to ${s.minimum}`);
    if (s.maximum !== undefined && value > s.maximum)
      errors.push(`${at}: Invalid value: ${value}: should be less than or equal to ${s.maximum}`);
  }
  if (Array.isArray(value)) {
    if (s.maxItems !== undefined && value.length > s.maxItems)
      errors.push(`${at}: Too many: ${value.length}: must have at most ${s.maxItems} items`);
    return s.items ? value.map((v, i) => walk(v, s.items!, `${path}[${i}]`, errors)) : value;
  }
  if (typeof value !== 'object' || s['x-kubernetes-preserve-unknown-fields']) return value;
  const out: Record<string, unknown> = {};
  const record = value as Record<string, unknown>;
  for (const req of s.required ?? [])
    if (record[req] === undefined) errors.push(`${join(path, req)}: Required value`);
  for (const [k, v] of Object.entries(record)) {
    const child =
      s.properties?.[k] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);
    if (child) out[k] = walk(v, child, join(path, k), errors);
    else if (s.additionalProperties === true) out[k] = v;
    // else: pruned, as the real server does with fields the structural schema does not name
  }
  return out;
}

function hasType(v: unknown, type: NonNullable<Schema['type']>): boolean {
  switch (type) {
    case 'object':
      return typeof v === 'object' && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    case 'integer':
      return Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    default:
      return typeof v === type;
  }
}

const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);
