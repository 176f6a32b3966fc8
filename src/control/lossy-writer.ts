// A per-client bounded queue over a socket: a client that reads slower than packets arrive loses
// lines instead of growing the agent's memory or slowing anyone else, and is told how many it lost
// once its socket drains.
import type { Socket } from 'node:net';
import type { LostLine } from './types.js';

/** Bytes a client may have waiting in its socket's write buffer before lines are dropped. */
export const DEFAULT_MAX_QUEUED_BYTES = 256 * 1024;

export class LossyWriter {
  /** Lines dropped since the last `lost` notice. */
  private pendingLost = 0;
  /** Lines dropped over the client's lifetime. */
  totalLost = 0;
  written = 0;

  constructor(
    private readonly socket: Socket,
    private readonly maxQueuedBytes = DEFAULT_MAX_QUEUED_BYTES,
  ) {
    socket.on('drain', () => this.flushLost());
  }

  /** Counts a line lost before it reached this writer (the hub's own backlog overflowed). */
  lose(): void {
    this.pendingLost++;
    this.totalLost++;
  }

  /** Whether a line would be queued now; lets the caller skip building a line that would be lost. */
  hasRoom(): boolean {
    const s = this.socket;
    return !s.destroyed && s.writable && s.writableLength < this.maxQueuedBytes;
  }

  /** Queues a line unless the client is too far behind; never blocks, never throws. */
  send(line: string): boolean {
    const s = this.socket;
    if (s.destroyed || !s.writable) return false;
    if (s.writableLength >= this.maxQueuedBytes) {
      this.pendingLost++;
      this.totalLost++;
      return false;
    }
    this.flushLost();
    s.write(line);
    this.written++;
    return true;
  }

  /** Sends the `lost` notice now if the socket has room; otherwise on its next drain. */
  flushLost(): void {
    const s = this.socket;
    if (this.pendingLost === 0 || s.destroyed || !s.writable || s.writableLength >= this.maxQueuedBytes)
      return;
    const notice: LostLine = { type: 'lost', count: this.pendingLost };
    this.pendingLost = 0;
    s.write(JSON.stringify(notice) + '\n');
  }
}
