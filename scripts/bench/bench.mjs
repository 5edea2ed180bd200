#!/usr/bin/env node
// `npm run bench -- <name> [options]`: benchmarks that compare kdtorch with PyTorch in one run.
import { benchCompare } from './compare.mjs';
import { benchData } from './data.mjs';
import { benchDdp } from './ddp.mjs';
import { benchDistill } from './distill.mjs';
import { benchKdGain } from './kd-gain.mjs';
import { benchLatency } from './latency.mjs';
import { benchParity } from './parity.mjs';
import { benchPrecision } from './precision.mjs';
import { benchServe } from './serve.mjs';
import { benchSteps } from './steps.mjs';

const benches = {
  steps: benchSteps,
  parity: benchParity,
  data: benchData,
  distill: benchDistill,
  compare: benchCompare,
  'kd-gain': benchKdGain,
  precision: benchPrecision,
  latency: benchLatency,
  serve: benchServe,
  ddp: benchDdp,
};
const [name, ...args] = process.argv.slice(2);
if (!benches[name]) {
  console.error(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [options]`);
  process.exit(2);
}
await benches[name](args);
