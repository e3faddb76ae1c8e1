import { pino, type Logger } from 'pino';

/** The process logger: JSON lines on stderr, level from SYNCMESH_LOG_LEVEL (default info). */
export function createLogger(bindings: Record<string, string>): Logger {
  return pino({ level: process.env['SYNCMESH_LOG_LEVEL'] ?? 'info', base: { pid: process.pid, ...bindings } }, pino.destination(2));
}
