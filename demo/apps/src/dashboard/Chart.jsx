/**
 * One uPlot chart of some fields of the metrics samples. uPlot draws on a canvas; the data is set
 * at most once per animation frame, however many samples arrived meanwhile, which is what keeps
 * 100+ updates per second smooth. `data-points` says how many points the chart last drew.
 */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const HEIGHT = 170;

export function Chart({ id, title, items, series, children }) {
  const box = useRef(null);
  const plot = useRef(null);
  const latest = useRef(items);
  latest.current = items;
  const frame = useRef(0);

  useEffect(() => {
    const el = box.current;
    const u = new uPlot(
      {
        width: Math.max(200, el.clientWidth),
        height: HEIGHT,
        legend: { show: true, live: false },
        cursor: { show: false },
        scales: { x: { time: true } },
        axes: [{}, { size: 50 }],
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 1.5, points: { show: false } }))],
      },
      [[], ...series.map(() => [])],
      el,
    );
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      cancelAnimationFrame(frame.current);
      frame.current = 0;
      u.destroy();
      plot.current = null;
    };
    // The series are fixed per chart.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    if (frame.current !== 0) return; // a draw is already scheduled: it will read the latest items
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      const u = plot.current;
      if (!u) return;
      const data = latest.current;
      const xs = new Float64Array(data.length);
      const ys = series.map(() => new Float64Array(data.length));
      for (let i = 0; i < data.length; i++) {
        xs[i] = data[i].t / 1000;
        for (let s = 0; s < series.length; s++) ys[s][i] = data[i][series[s].key];
      }
      u.setData([xs, ...ys]);
      box.current?.setAttribute('data-points', String(data.length));
    });
  });

  return (
    <figure className="chart panel" id={id}>
      <figcaption>{title}</figcaption>
      <div ref={box} className="plot" data-points="0" />
      {children}
    </figure>
  );
}
