import { pino, type Logger } from 'pino';

/** The process logger: JSON lines on stderr at `level` (--log-level / SYNCMESH_LOG_LEVEL). */
export function createLogger(level: string, bindings: Record<string, string>): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } }, pino.destination(2));
}
