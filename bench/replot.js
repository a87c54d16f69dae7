/**
 * Redraws the chart from a results file, without running anything:
 *
 *   node bench/replot.js [bench/results/latest-full.json] [docs/performance-chart.svg]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { chartSvg } from './lib/chart.js';

const [input = new URL('./results/latest-full.json', import.meta.url), output = new URL('../docs/performance-chart.svg', import.meta.url)] = process.argv.slice(2);
const report = JSON.parse(readFileSync(input, 'utf8'));
const reps = [...new Set(Object.values(report.repetitions))].join('/');
const { machine } = report;
const caption = `${machine.cores} × ${machine.cpu}, Node ${machine.node}, ${report.mode} run, medians of ${reps} repetitions, load average ${machine.loadAverage.start.one} at start, ${report.date.slice(0, 10)}`;
writeFileSync(output, chartSvg(report.summary, caption));
console.log(`chart written to ${output}`);
