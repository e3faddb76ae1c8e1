/**
 * Prometheus metrics of a node: the registry over a node's sources and the HTTP server that serves it.
 */
export { createMetricsRegistry } from './registry.js';
export { startMetricsServer } from './server.js';

export type { MetricsSources } from './registry.js';
export type { MetricsServer } from './server.js';
