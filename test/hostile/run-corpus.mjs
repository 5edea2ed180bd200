// Runs every case of a hostile corpus (make_corpus.py's manifest.json) through kdtorch's public API
// in this one process, printing a JSON line per case: the error code (or "ok"), the message and the
// peak RSS the case reached. A case that kills the process (a signal) is the last "start" line.
// usage: node run-corpus.mjs MANIFEST [FIRST_INDEX]
import fs from 'node:fs';
import { decodeImage, loadModel, studentNet } from '../../dist/lib/index.js';

const cases = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const first = Number(process.argv[3] ?? 0);
const model = await studentNet({ inputSize: 32 });

function peakKb() {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
}

const apis = {
  weights: (file) => model.loadWeights(file),
  model: async (file) => (await loadModel(file)).model.dispose?.(),
  image: (file) => decodeImage(file, { height: 64, width: 64, channels: 3 }),
};

for (let i = first; i < cases.length; i++) {
  const { file, api } = cases[i];
  fs.writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
  const before = peakKb();
  console.log(JSON.stringify({ start: i }));
  let code = 'ok';
  let message = '';
  try {
    await apis[api](file);
  } catch (error) {
    code = error.code ?? `untyped ${error.name}`;
    message = error.message;
  }
  console.log(JSON.stringify({ index: i, code, message, peakKb: peakKb(), baseKb: before }));
}
