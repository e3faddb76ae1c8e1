/**
 * Progress and diagnostics of the benchmark go to stderr through pino, so stdout carries only the
 * report (it can be piped or diffed).
 */
import { pino, type Logger } from 'pino';

/** A pino logger writing to stderr; `name` tells the main process from its workers. */
export function benchLogger(name: string): Logger {
  return pino({ name, level: process.env['BENCH_LOG_LEVEL'] ?? 'info', base: { pid: process.pid } }, pino.destination(2));
}
