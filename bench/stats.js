'use strict';
// Statistics the bench scripts share: medians and a seeded bootstrap interval of a statistic.

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * 95% confidence interval of `stat` over `xs` by the percentile bootstrap (seeded: reruns agree).
 * `block` > 1: the moving-block bootstrap, for values in the order they were measured whose
 * neighbours are correlated (two ratios that share a baseline build): each resample is made of runs
 * of `block` consecutive values, so that correlation stays in it and the interval is not too narrow.
 */
function bootstrapCi(xs, stat = median, { resamples = 4000, block = 1 } = {}) {
  if (xs.length < 3) return null;
  let seed = 0x9e3779b9;
  const random = () => {
    // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const blockLength = Math.max(1, Math.min(block, xs.length));
  const stats = [];
  for (let i = 0; i < resamples; i++) {
    const sample = [];
    while (sample.length < xs.length) {
      const start = Math.floor(random() * (xs.length - blockLength + 1));
      for (let j = start; j < start + blockLength && sample.length < xs.length; j++) sample.push(xs[j]);
    }
    stats.push(stat(sample));
  }
  stats.sort((a, b) => a - b);
  return { low: stats[Math.floor(resamples * 0.025)], high: stats[Math.ceil(resamples * 0.975) - 1] };
}

module.exports = { median, bootstrapCi };
