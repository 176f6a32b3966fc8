// Structured logs: JSON when not on a terminal (the container), readable lines on one.
// One line per state change; per-packet lines only at debug level.
import winston from 'winston';
import type { LogFormat, LogLevel } from '../config/types.js';

export type Logger = Pick<winston.Logger, 'error' | 'warn' | 'info' | 'debug'> & {
  child(meta: Record<string, unknown>): Logger;
};

export function createLogger(level: LogLevel = 'info', format: LogFormat = 'auto'): Logger {
  const json = format === 'json' || (format === 'auto' && !process.stderr.isTTY);
  const fmt = json
    ? winston.format.combine(winston.format.timestamp(), winston.format.json())
    : winston.format.combine(
        winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
        winston.format.printf(({ timestamp, level: lvl, message, ...meta }) => {
          const rest = Object.entries(meta)
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(' ');
          return `${String(timestamp)} ${lvl.padEnd(5)} ${String(message)}${rest ? ' ' + rest : ''}`;
        }),
      );
  return winston.createLogger({
    level,
    format: fmt,
    // stderr keeps stdout free for command output (status, tail).
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  }) as unknown as Logger;
}
