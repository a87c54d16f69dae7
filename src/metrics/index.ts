/**
 * `switchboard/metrics`: Prometheus metrics for a Switchboard server through `prom-client` (an
 * optional peer dependency, needed only by this entry). docs/observability.md lists the series.
 *
 * @example
 * import { createServer } from 'switchboard/server';
 * import { prometheus } from 'switchboard/metrics';
 * const server = createServer({ port: 8080, observe: prometheus() });
 * await server.listen(); // GET http://localhost:8080/metrics
 */
export { prometheus, type PrometheusOptions, type PrometheusObserver } from './prometheus.js';
