/**
 * Preloaded into the runtime child by test/bench/runtime.ts (`node --import`):
 * once a second it appends one JSON line to $BENCH_PROBE_OUT with that
 * second's event-loop utilisation, event-loop delay (p50/p99/max, ms beyond the 10 ms sampling interval), RSS and
 * heap. It touches nothing in the runtime; the cost is one timer a second plus
 * the event-loop-delay histogram. Without BENCH_PROBE_OUT it does nothing.
 * With CONCLAVE_WORKERS every process loads it (node:cluster forks with the
 * same --import), so each line carries its pid.
 */
import { appendFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

const out = process.env.BENCH_PROBE_OUT;
if (out) {
  const RESOLUTION_MS = 10;
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  delay.enable();
  let last = performance.eventLoopUtilization();
  const sample = () => {
    const current = performance.eventLoopUtilization();
    const elu = performance.eventLoopUtilization(current, last).utilization;
    last = current;
    const memory = process.memoryUsage();
    const line = {
      t: performance.timeOrigin + performance.now(),
      pid: process.pid,
      elu,
      // The histogram holds whole timer intervals; report the excess over the resolution.
      delayP50: Math.max(0, delay.percentile(50) / 1e6 - RESOLUTION_MS),
      delayP99: Math.max(0, delay.percentile(99) / 1e6 - RESOLUTION_MS),
      delayMax: Math.max(0, delay.max / 1e6 - RESOLUTION_MS),
      rss: memory.rss,
      heapUsed: memory.heapUsed,
    };
    delay.reset();
    try {
      appendFileSync(out, `${JSON.stringify(line)}\n`);
    } catch {
      /* the bench removed the file: stop quietly */
    }
  };
  setInterval(sample, 1000).unref();
}
