// Pure readiness: config loaded, the LAN socket open, every pod source synced, and the pods those
// sources listed at sync time seen by a link scan. A source may sync after start: until a scan has
// acted on what it listed, its pods are not relayed and the agent is not ready.
export interface ReadinessInput {
  started: boolean;
  lanOpen: boolean;
  sourcesSynced: boolean;
  /** The pod registry's change counter now. */
  generation: number;
}

export class Readiness {
  private syncedGeneration?: number;
  private attachedGeneration = -1;

  /** A link scan finished, having acted on the registry as of `generation`. */
  scanned(generation: number): void {
    this.attachedGeneration = generation;
  }

  ready(i: ReadinessInput): boolean {
    if (!i.started || !i.lanOpen || !i.sourcesSynced) return false;
    this.syncedGeneration ??= i.generation;
    return this.attachedGeneration >= this.syncedGeneration;
  }
}
