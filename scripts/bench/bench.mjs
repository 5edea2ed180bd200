#!/usr/bin/env node
// `npm run bench -- <name> [options]`: benchmarks that compare kdtorch with PyTorch in one run.
import { benchSteps } from './steps.mjs';

const benches = { steps: benchSteps };
const [name, ...args] = process.argv.slice(2);
if (!benches[name]) {
  console.error(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [options]`);
  process.exit(2);
}
await benches[name](args);
