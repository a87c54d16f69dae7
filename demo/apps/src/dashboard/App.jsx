/**
 * The live dashboard: the server's own measurements, delivered by the `metrics` stream (batched on
 * the server) into a rolling window (`useStream`'s `window`), drawn by uPlot once per animation
 * frame whatever the update rate. Changing the rate changes the stream's input, which cancels the
 * stream and opens another.
 */
import { useState } from 'react';
import { SwitchboardProvider, useCall, useStream } from 'switchboard/react';
import { ConnectionBanner, Header, CLIENT_OPTIONS, wsUrl } from '../common/connection.jsx';
import { Chart } from './Chart.jsx';

/** Samples per second a viewer can pick. */
const RATES = [1, 10, 50, 100, 200];
/** Points kept per chart: the last 30 s at 10/s, the last 3 s at 200/s. */
const WINDOW = 600;

export function App() {
  return (
    // DEMO ONLY: the dashboard signs in under a fixed name; an operator's view would use a real
    // token and a rule that lets only operators open `metrics`.
    <SwitchboardProvider url={wsUrl()} options={{ ...CLIENT_OPTIONS, token: 'dashboard' }} onError={(err) => console.warn('[dashboard]', err.message)}>
      <Dashboard />
    </SwitchboardProvider>
  );
}

const last = (items, key) => (items.length > 0 ? items[items.length - 1][key] : undefined);
const fmt = (v, digits = 1) => (v === undefined ? '–' : v.toFixed(digits));

function Dashboard() {
  const [rate, setRate] = useState(10);
  const intervalMs = 1000 / rate;
  const { items, received, error } = useStream('metrics', { intervalMs }, { window: WINDOW });
  const probe = useCall('probe');

  const first = items[0];
  const newest = items[items.length - 1];
  return (
    <>
      <Header title="Switchboard live dashboard">
        <label className="rate">
          updates/s{' '}
          <select id="rate" value={rate} onChange={(e) => setRate(Number(e.target.value))}>
            {RATES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
      </Header>
      <ConnectionBanner />
      <main>
        <section
          id="dashboard"
          data-interval-ms={intervalMs}
          data-received={received}
          data-window-count={items.length}
          data-seq-first={first?.seq}
          data-seq-last={newest?.seq}
          data-t-first={first?.t}
          data-t-last={newest?.t}
        >
          <div id="tiles">
            <Tile label="event-loop delay p99" value={`${fmt(last(items, 'loopDelayMs'))} ms`} />
            <Tile label="connections" value={fmt(last(items, 'connections'), 0)} />
            <Tile label="frames in / s" value={fmt(last(items, 'inPerSec'), 0)} />
            <Tile label="memory (RSS)" value={`${fmt(last(items, 'rssMb'))} MiB`} />
            <Tile label="points received" value={String(received)} id="received" />
          </div>
          {error ? <p className="error">The stream failed: {error.message}</p> : null}
          <div id="charts">
            <Chart id="chart-loop" title="Event-loop delay, p99 (ms)" items={items} series={[{ key: 'loopDelayMs', label: 'p99 ms', stroke: '#2f6fed' }]} />
            <Chart id="chart-connections" title="Connections" items={items} series={[{ key: 'connections', label: 'open', stroke: '#1a7f37' }]} />
            <Chart
              id="chart-messages"
              title="Messages per second"
              items={items}
              series={[
                { key: 'inPerSec', label: 'frames in', stroke: '#2f6fed' },
                { key: 'outPerSec', label: 'frames out (direct)', stroke: '#8250df' },
                { key: 'publishesPerSec', label: 'publishes', stroke: '#b26a00' },
              ]}
            />
            <Chart
              id="chart-memory"
              title="Memory (MiB)"
              items={items}
              series={[
                { key: 'rssMb', label: 'RSS', stroke: '#b42318' },
                { key: 'heapMb', label: 'heap used', stroke: '#6b7280' },
              ]}
            />
            <Chart
              id="chart-calls"
              title="Calls per second, by outcome"
              items={items}
              series={[
                { key: 'callsOkPerSec', label: 'ok', stroke: '#1a7f37' },
                { key: 'callsErrorPerSec', label: 'error', stroke: '#b42318' },
              ]}
            >
              <div className="probe">
                <button type="button" id="call-ok" onClick={() => probe.call({ fail: false })}>
                  Call (succeeds)
                </button>
                <button type="button" id="call-fail" className="secondary" onClick={() => probe.call({ fail: true })}>
                  Call (fails)
                </button>
                <button
                  type="button"
                  id="call-burst"
                  className="secondary"
                  onClick={() => {
                    for (let i = 0; i < 50; i++) probe.call({ fail: i % 5 === 0 }).catch(() => {});
                  }}
                >
                  50 calls
                </button>
                <span className="hint">{probe.error ? `last: ${probe.error.code ?? 'error'}` : probe.data ? 'last: ok' : ''}</span>
              </div>
            </Chart>
          </div>
        </section>
      </main>
    </>
  );
}

function Tile({ label, value, id }) {
  return (
    <div className="tile panel">
      <div className="label">{label}</div>
      <div className="value" id={id}>
        {value}
      </div>
    </div>
  );
}
