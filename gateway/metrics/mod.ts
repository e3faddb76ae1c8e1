/**
 * Health and metrics of a node: Prometheus metrics of every role, /healthz and /readyz, on one
 * operations port. Public entry point of gateway/metrics.
 */
export { createNodeMetrics } from './registry.js';
export { startOpsServer } from './server.js';
export { jetStreamCheck, readiness, watchNats } from './health.js';
export type { NodeMetrics } from './registry.js';
export type { OpsServer, OpsSources } from './server.js';
export type { NatsWatch, Readiness, ReadinessCheck } from './health.js';
