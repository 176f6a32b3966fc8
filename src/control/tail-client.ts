// Follows the agent's packet stream across agent restarts: when the socket closes, it waits for the
// socket to come back and subscribes again, saying so through `onNotice`.
import type net from 'node:net';
import { agentAbsent, connectControl, ControlClientError, readLines, sendRequest } from './client.js';
import type { PacketLine, TailFilter } from './types.js';

export interface TailOptions {
  path: string;
  filter: TailFilter;
  /** Wait for the agent if it is not there at the start, instead of failing. */
  waitAtStart?: boolean;
  /** How often to try again while the agent is away. */
  retryMs?: number;
  onPacket(p: PacketLine): void;
  onLost(count: number): void;
  /** Connection news for people: lost the agent, waiting, reconnected. */
  onNotice(message: string): void;
}

/** A running tail; `done` settles when it is stopped or fails for good. */
export class TailFollower {
  readonly done: Promise<void>;
  private socket?: net.Socket;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private wake?: () => void;
  private finish!: () => void;
  private fail!: (err: Error) => void;

  constructor(private readonly opts: TailOptions) {
    this.done = new Promise<void>((resolve, reject) => {
      this.finish = resolve;
      this.fail = reject;
    });
    void this.run();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.destroy();
    this.wake?.();
    this.finish();
  }

  private async run(): Promise<void> {
    let attempt = 0;
    let hadAgent = false;
    let waitingSaid = false;
    while (!this.stopped) {
      let s: net.Socket;
      try {
        s = await connectControl(this.opts.path);
      } catch (err) {
        if (this.stopped) return;
        const canWait = agentAbsent(err) && (hadAgent || this.opts.waitAtStart);
        if (!canWait) return this.fail(err as Error);
        if (!waitingSaid) {
          waitingSaid = true;
          this.opts.onNotice(
            hadAgent
              ? `waiting for the agent to come back at ${this.opts.path}`
              : `waiting for the agent at ${this.opts.path}`,
          );
        }
        await this.sleep(this.opts.retryMs ?? 1000);
        continue;
      }
      if (this.stopped) {
        s.destroy();
        return;
      }
      attempt++;
      waitingSaid = false;
      this.socket = s;
      try {
        await this.stream(s, attempt > 1);
      } catch (err) {
        this.stopped = true;
        return this.fail(err as Error);
      }
      hadAgent = true;
      if (!this.stopped) this.opts.onNotice('the agent went away (control socket closed)');
    }
  }

  /** Streams until the socket closes; rejects on a refusal the user must fix. */
  private stream(s: net.Socket, reconnected: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      let refused: Error | undefined;
      readLines(s, (msg) => {
        if (this.stopped) return; // lines already read in the same chunk as the last wanted one
        switch (msg.type) {
          case 'packet':
            return this.opts.onPacket(msg as unknown as PacketLine);
          case 'lost':
            return this.opts.onLost(Number(msg.count) || 0);
          case 'subscribed':
            if (reconnected) this.opts.onNotice(`reconnected to the agent at ${this.opts.path}`);
            return;
          case 'error':
            refused = new ControlClientError(`the agent refused the request: ${String(msg.message)}`, 2);
            s.destroy();
            return;
        }
      });
      s.on('error', () => {});
      s.on('close', () => (refused ? reject(refused) : resolve()));
      sendRequest(s, { cmd: 'tail', filter: this.opts.filter });
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }
}
