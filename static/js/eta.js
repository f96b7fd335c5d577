// Time-left estimates for a running job, from the progress rate measured in the page.

// Samples older than this are dropped, so the rate follows the recent batches instead of the
// slow start of a job (loading data, the first batches).
const RATE_WINDOW_MS = 10_000;
// The rate needs samples at least this far apart before an estimate is given.
const MIN_RATE_SPAN_MS = 1_000;

export class ProgressRate {
  constructor() {
    this.samples = []; // {time, progress}, oldest first, progress strictly increasing
  }

  // Record `progress` (a fraction in [0, 1]) seen at `time` (ms) and return the estimated seconds
  // left, or null until two samples with progress above 0 lie at least MIN_RATE_SPAN_MS apart.
  update(progress, time = Date.now()) {
    const samples = this.samples;
    if (progress > 0 && (samples.length === 0 || progress > samples.at(-1).progress)) {
      samples.push({ time, progress });
    }
    while (samples.length > 2 && time - samples[1].time > RATE_WINDOW_MS) samples.shift();
    if (samples.length < 2) return null;

    const first = samples[0];
    const span = time - first.time;
    const done = progress - first.progress;
    if (span < MIN_RATE_SPAN_MS || done <= 0) return null;
    return (span / 1000) * ((1 - progress) / done);
  }
}
