/**
 * The tallies behind `switchboard/metrics`: plain numbers the server's hooks add to, read only when
 * Prometheus scrapes (docs/observability.md). An event costs a field increment, or a `Map` lookup
 * for a labelled series; nothing is allocated after a label value's first event. No prom-client
 * here: prometheus.ts turns these into series at scrape time.
 */

/** One label set's value. */
export interface Cell {
  readonly labels: Readonly<Record<string, string>>;
  value: number;
}

/** A counter (or gauge) with labels: one {@link Cell} per label set, created on its first event. */
export class LabelledTally {
  readonly cells = new Map<string, Cell>();
  readonly #labelName: string;

  /** `labelName`: the one label of this series (`code`, `reason`, `codec`…). */
  constructor(labelName: string) {
    this.#labelName = labelName;
  }

  /** The cell of `value`, created once. */
  cell(value: string): Cell {
    let c = this.cells.get(value);
    if (!c) this.cells.set(value, (c = { labels: { [this.#labelName]: value }, value: 0 }));
    return c;
  }

  add(value: string, n = 1): void {
    this.cell(value).value += n;
  }
}

/** A histogram of one label set: counts per bucket (not cumulative), sum and count. */
export class HistogramTally {
  readonly counts: number[];
  sum = 0;
  count = 0;
  readonly #bounds: readonly number[];

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.counts = bounds.map(() => 0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    const b = this.#bounds;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

/** Bytes and messages of one codec, each way. */
export class CodecTally {
  receivedMessages = 0;
  receivedBytes = 0;
  sentMessages = 0;
  sentBytes = 0;

  received(bytes: number): void {
    this.receivedMessages++;
    this.receivedBytes += bytes;
  }

  sent(bytes: number): void {
    this.sentMessages++;
    this.sentBytes += bytes;
  }
}

/** One registered name's (a command's, an engine operation's) outcomes and latency. */
export class TimedTally {
  readonly outcomes: LabelledTally;
  readonly latency: HistogramTally;

  constructor(outcomeLabel: string, bounds: readonly number[]) {
    this.outcomes = new LabelledTally(outcomeLabel);
    this.latency = new HistogramTally(bounds);
  }
}

/** `TimedTally`s by name, created on a name's first event. */
export class TimedTallies {
  readonly byName = new Map<string, TimedTally>();
  readonly #outcomeLabel: string;
  readonly #bounds: readonly number[];

  constructor(outcomeLabel: string, bounds: readonly number[]) {
    this.#outcomeLabel = outcomeLabel;
    this.#bounds = bounds;
  }

  record(name: string, outcome: string, seconds: number): void {
    let t = this.byName.get(name);
    if (!t) this.byName.set(name, (t = new TimedTally(this.#outcomeLabel, this.#bounds)));
    t.outcomes.add(outcome);
    t.latency.observe(seconds);
  }
}
