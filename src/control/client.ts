// The CLI's side of the control socket: connect with errors that say what to do, send one request,
// read newline-delimited JSON back.
import net from 'node:net';
import type { ControlRequest, StatusReply } from './types.js';

/** Exit codes the CLI uses for control-socket failures. */
export const EXIT_UNREACHABLE = 3;
export const EXIT_PERMISSION = 4;

export class ControlClientError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Whether an error means "no agent there right now" (worth waiting for), as opposed to a refusal. */
export function agentAbsent(err: unknown): boolean {
  return err instanceof ControlClientError && err.exitCode === EXIT_UNREACHABLE;
}

export function explainConnectError(err: NodeJS.ErrnoException, path: string): ControlClientError {
  switch (err.code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new ControlClientError(
        `is the agent running? the control socket was not found at ${path} ` +
          '(start the agent, or give the path it uses with --control-socket)',
        EXIT_UNREACHABLE,
        err.code,
      );
    case 'ECONNREFUSED':
      return new ControlClientError(
        `is the agent running? ${path} exists but no agent answers on it ` +
          '(left behind by an agent that stopped; a new agent removes it when it starts)',
        EXIT_UNREACHABLE,
        err.code,
      );
    case 'EACCES':
    case 'EPERM':
      return new ControlClientError(
        `permission denied on the control socket ${path}: run as root (e.g. sudo lan-reflector …, ` +
          'or kubectl -n lan-reflector exec ds/lan-reflector -- lan-reflector …)',
        EXIT_PERMISSION,
        err.code,
      );
    default:
      return new ControlClientError(
        `cannot reach the agent at ${path}: ${err.message}`,
        EXIT_UNREACHABLE,
        err.code,
      );
  }
}

export function connectControl(path: string, timeoutMs = 5000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path);
    const timer = setTimeout(() => {
      s.destroy();
      reject(
        new ControlClientError(
          `the agent at ${path} did not accept the connection in time`,
          EXIT_UNREACHABLE,
        ),
      );
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.off('error', onError);
      resolve(s);
    });
    const onError = (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(explainConnectError(err, path));
    };
    s.once('error', onError);
  });
}

export function sendRequest(s: net.Socket, req: ControlRequest): void {
  s.write(JSON.stringify(req) + '\n');
}

/** Calls `onLine` with each parsed JSON line; malformed lines are passed as an error message. */
export function readLines(s: net.Socket, onLine: (msg: Record<string, unknown>) => void): void {
  let buf = '';
  s.setEncoding('utf8');
  s.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.trim()) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        msg = { type: 'error', message: `the agent sent a line that is not JSON: ${line.slice(0, 80)}` };
      }
      onLine(msg);
    }
  });
}

/** Asks for the status; resolves with the reply or rejects with a ControlClientError. */
export async function requestStatus(path: string, timeoutMs = 5000): Promise<StatusReply> {
  const s = await connectControl(path, timeoutMs);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      s.destroy();
      reject(new ControlClientError(`the agent at ${path} did not answer in time`, EXIT_UNREACHABLE));
    }, timeoutMs);
    let answered = false;
    readLines(s, (msg) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      s.end();
      if (msg.type === 'status') resolve(msg as unknown as StatusReply);
      else reject(new ControlClientError(`the agent refused: ${String(msg.message)}`, 1));
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      if (!answered)
        reject(new ControlClientError(`lost the agent at ${path}: ${err.message}`, EXIT_UNREACHABLE));
    });
    s.on('close', () => {
      clearTimeout(timer);
      if (!answered)
        reject(new ControlClientError(`the agent at ${path} closed without answering`, EXIT_UNREACHABLE));
    });
    sendRequest(s, { cmd: 'status' });
  });
}
