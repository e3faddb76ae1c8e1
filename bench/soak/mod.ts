/** The R6 soak (TARGETS.md): run with `npm run soak`; soak.ts is the command line. */
export { runSoak, summaryTable } from './soak-run.js';
export type { SoakOptions, SoakResult } from './soak-run.js';
export { growthAfterWarmup, sampleRss } from './rss-sampler.js';
export type { ProcessGrowth, RssSample, SampledProcess } from './rss-sampler.js';
export { SoakDevices, SOAK_COLLECTION } from './devices.js';
export type { SoakCounters, VerifyResult } from './devices.js';
