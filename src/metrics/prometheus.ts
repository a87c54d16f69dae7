/**
 * `prometheus()`: the server's observer (src/server/observe.ts) as Prometheus series in a
 * prom-client `Registry`, served on the server's HTTP routes (docs/observability.md). Events add to
 * plain tallies (tally.ts); each series is a prom-client custom metric whose `get()` reads them at
 * scrape time, so the server's hot paths never call prom-client (its `inc`/`observe` hash the
 * labels and build objects on every call).
 */
import { Registry, type Metric } from 'prom-client';
import { REFUSAL_CATEGORIES, type RefusalCategory } from '../net/refusal.js';
import { closeCodeLabel, type CodecMeter, type ObservedServer, type Observer, type Outcome, type StreamKind } from '../server/observe.js';
import type { EngineObserver } from '../engines/engine.js';
import { knownKeys, withDefaults } from '../shared/options.js';
import { CodecTally, type Cell, HistogramTally, LabelledTally, TimedTallies } from './tally.js';

/** Options of {@link prometheus}. */
export interface PrometheusOptions {
  /** Where the series are registered (give yours to serve them with your other metrics). @default a new `Registry` */
  registry?: Registry;
  /** The server's HTTP path answering the text exposition; `false` serves nothing (mount `registry` yourself). @default '/metrics' */
  path?: string | false;
  /** Prefix of every series name (two servers sharing one registry need different ones). @default 'switchboard_' */
  prefix?: string;
  /** Upper bounds of the latency histograms' buckets, in seconds. @default [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] */
  buckets?: readonly number[];
}

/** What {@link prometheus} returns: an observer for `createServer({ observe })`, and its registry. */
export interface PrometheusObserver extends Observer {
  /** The registry holding the series. */
  readonly registry: Registry;
}

const DEFAULTS: Required<Omit<PrometheusOptions, 'registry'>> = {
  path: '/metrics',
  prefix: 'switchboard_',
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
};

type SeriesType = 'counter' | 'gauge' | 'histogram';
interface Value {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** A prom-client custom metric: a name, a help text, and values read when scraped. */
function series(registry: Registry, name: string, help: string, type: SeriesType, values: () => Value[]): void {
  const metric = {
    name,
    help,
    type,
    aggregator: type === 'gauge' ? 'average' : 'sum',
    get: async () => ({ name, help, type, aggregator: metric.aggregator, values: values() }),
  };
  registry.registerMetric(metric as unknown as Metric);
}

const cells = (t: LabelledTally): Value[] => [...t.cells.values()].map((c: Cell) => ({ labels: { ...c.labels }, value: c.value }));

/** The values of a histogram series: cumulative buckets, `+Inf`, sum and count. */
function histogramValues(name: string, labels: Record<string, string>, h: HistogramTally, bounds: readonly number[]): Value[] {
  const out: Value[] = [];
  let acc = 0;
  bounds.forEach((le, i) => {
    acc += h.counts[i]!;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: acc });
  });
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
  out.push({ metricName: `${name}_sum`, labels, value: h.sum });
  out.push({ metricName: `${name}_count`, labels, value: h.count });
  return out;
}

/**
 * Prometheus metrics for a server (docs/observability.md lists every series).
 *
 * @example
 * import { prometheus } from 'switchboard/metrics';
 * const server = createServer({ port: 8080, observe: prometheus() }); // GET /metrics
 */
export function prometheus(options: PrometheusOptions = {}): PrometheusObserver {
  const o = withDefaults(DEFAULTS, knownKeys('', options, ['registry', 'path', 'prefix', 'buckets']));
  if (o.path !== false && (typeof o.path !== 'string' || !o.path.startsWith('/'))) throw new TypeError(`path must be a path starting with "/", or false, got ${String(o.path)}`);
  if (typeof o.prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/.test(o.prefix)) throw new TypeError(`prefix must be a Prometheus name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*), got ${String(o.prefix)}`);
  const bounds = [...o.buckets];
  if (bounds.length === 0 || bounds.some((b, i) => !(Number.isFinite(b) && b > 0 && (i === 0 || b > bounds[i - 1]!)))) {
    throw new TypeError('buckets must be increasing positive numbers (seconds)');
  }
  const registry = options.registry ?? new Registry();
  const p = o.prefix;
  let server: ObservedServer | undefined;

  const opened = new LabelledTally('codec');
  const closed = new LabelledTally('code');
  const refusals = new LabelledTally('reason');
  // Every reason present from the start at 0, so that rate() and alerts see the first refusal.
  for (const c of REFUSAL_CATEGORIES) refusals.cell(c);
  const codecs = new Map<string, CodecTally>();
  const calls = new TimedTallies('outcome', bounds);
  const streamsOpen = new LabelledTally('kind');
  const streamsEnded = new Map<StreamKind, LabelledTally>();
  const roundTrips = new TimedTallies('outcome', bounds);
  const totals = { published: 0, delivered: 0, replayed: 0, gaps: 0, rateLimited: 0, slowConsumers: 0 };

  const perCodec = (pick: (t: CodecTally) => number): (() => Value[]) => () => [...codecs].map(([codec, t]) => ({ labels: { codec }, value: pick(t) }));
  const timed = (tallies: TimedTallies, nameLabel: string): { totals: () => Value[]; histogram: (metric: string) => () => Value[] } => ({
    totals: () => [...tallies.byName].flatMap(([n, t]) => cells(t.outcomes).map((v) => ({ ...v, labels: { [nameLabel]: n, ...v.labels } }))),
    histogram: (metric) => () => [...tallies.byName].flatMap(([n, t]) => histogramValues(metric, { [nameLabel]: n }, t.latency, bounds)),
  });
  const callSeries = timed(calls, 'command');
  const engineSeries = timed(roundTrips, 'op');
  const total = (v: () => number) => () => [{ labels: {}, value: v() }];

  series(registry, `${p}connections`, 'Open WebSocket connections.', 'gauge', total(() => server?.connections() ?? 0));
  series(registry, `${p}connections_opened_total`, 'WebSocket connections accepted, by codec.', 'counter', () => cells(opened));
  series(registry, `${p}connections_closed_total`, 'Connections closed, by close code (the server\'s own code when it closed them; "other" for codes outside the table).', 'counter', () => cells(closed));
  series(registry, `${p}handshake_refusals_total`, 'Upgrade requests refused before a WebSocket existed, by reason.', 'counter', () => cells(refusals));
  series(registry, `${p}messages_received_total`, 'WebSocket messages received, by codec.', 'counter', perCodec((t) => t.receivedMessages));
  series(registry, `${p}messages_sent_total`, 'WebSocket messages sent, by codec (each subscriber\'s copy counts).', 'counter', perCodec((t) => t.sentMessages));
  series(registry, `${p}received_bytes_total`, 'Bytes of WebSocket messages received, by codec.', 'counter', perCodec((t) => t.receivedBytes));
  series(registry, `${p}sent_bytes_total`, 'Bytes of WebSocket messages sent, by codec.', 'counter', perCodec((t) => t.sentBytes));
  series(registry, `${p}calls_total`, 'Calls of registered commands, by command and outcome (ok or the error code).', 'counter', callSeries.totals);
  series(registry, `${p}call_duration_seconds`, 'Time from a call frame to its answer, by command.', 'histogram', callSeries.histogram(`${p}call_duration_seconds`));
  series(registry, `${p}streams_open`, 'Streams and uploads running now, by kind.', 'gauge', () => cells(streamsOpen));
  series(registry, `${p}streams_total`, 'Streams and uploads ended, by kind and outcome.', 'counter', () =>
    [...streamsEnded].flatMap(([kind, t]) => cells(t).map((v) => ({ ...v, labels: { kind, ...v.labels } }))),
  );
  series(registry, `${p}publishes_total`, 'Messages published (by clients and by server.publish) that the engine accepted.', 'counter', total(() => totals.published));
  series(registry, `${p}deliveries_total`, 'Topic events handed to local subscribers (one per subscriber).', 'counter', total(() => totals.delivered));
  series(registry, `${p}history_replayed_messages_total`, 'Messages replayed from history to subscribers that resumed or asked for history.', 'counter', total(() => totals.replayed));
  series(registry, `${p}history_gaps_total`, 'Subscriptions that asked to resume and could not: their subscriber sees a gap.', 'counter', total(() => totals.gaps));
  series(registry, `${p}rate_limited_total`, 'Requests refused by limits.rate.', 'counter', total(() => totals.rateLimited));
  series(registry, `${p}slow_consumers_total`, 'Connections closed as slow consumers (4001).', 'counter', total(() => totals.slowConsumers));
  series(registry, `${p}engine_healthy`, 'Whether the engine can serve now (1) or not (0).', 'gauge', total(() => (server ? (server.engineHealth().healthy ? 1 : 0) : 0)));
  series(registry, `${p}engine_round_trips_total`, 'Operations the engine sent to its backend (Redis), by operation and outcome (ok, error).', 'counter', engineSeries.totals);
  series(registry, `${p}engine_round_trip_seconds`, 'Time of the engine\'s operations on its backend, by operation.', 'histogram', engineSeries.histogram(`${p}engine_round_trip_seconds`));

  const engine: EngineObserver = {
    roundTrip: (op, seconds, ok) => roundTrips.record(op, ok ? 'ok' : 'error', seconds),
  };

  return {
    registry,
    engine,
    bind(s) {
      if (server) throw new TypeError('this prometheus() observer already observes a server: create one per server (they may share a registry with distinct prefixes)');
      server = s;
      if (o.path !== false) {
        s.routes.add(o.path, async () => new Response(await registry.metrics(), { headers: { 'content-type': registry.contentType } }));
      }
    },
    meter(codec): CodecMeter {
      let t = codecs.get(codec);
      if (!t) codecs.set(codec, (t = new CodecTally()));
      return t;
    },
    connected: (codec) => opened.add(codec),
    disconnected: (code) => closed.add(closeCodeLabel(code)),
    refused: (category: RefusalCategory) => refusals.add(category),
    callStarted: () => performance.now(),
    callEnded: (mark, name, outcome: Outcome) => calls.record(name, outcome, (performance.now() - (mark as number)) / 1000),
    streamStarted(kind) {
      streamsOpen.add(kind);
      return undefined;
    },
    streamEnded(_mark, kind, _name, outcome) {
      streamsOpen.add(kind, -1);
      let t = streamsEnded.get(kind);
      if (!t) streamsEnded.set(kind, (t = new LabelledTally('outcome')));
      t.add(outcome);
    },
    published: () => void totals.published++,
    delivered: (n) => void (totals.delivered += n),
    replayed: (n) => void (totals.replayed += n),
    gap: () => void totals.gaps++,
    rateLimited: () => void totals.rateLimited++,
    slowConsumer: () => void totals.slowConsumers++,
  };
}
