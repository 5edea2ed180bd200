// Where benches leave their raw results: docs/results/<bench>-<UTC time>.md (the printed tables with the
// setting and the command) and .json (everything measured), one pair per run. docs/results.md holds the
// current answers, written by hand from these files; the history stays in git.
import fs from 'node:fs';
import path from 'node:path';
import { findPackageRoot } from '../../lib/native/libtorch.mjs';

/** Writes one run's results; returns the Markdown file's path. */
export function writeBenchResults(bench, { setting, command, markdown, json }) {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 15);
  const base = path.join(findPackageRoot(), 'docs', 'results', `${bench}-${stamp}`);
  fs.mkdirSync(path.dirname(base), { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  writeWhole(`${base}.md`, `# ${date}: ${bench} on ${setting}\n\n\`${command}\`\n\n${markdown}\n`);
  writeWhole(`${base}.json`, `${JSON.stringify({ date, bench, setting, command, ...json }, null, 2)}\n`);
  return `${base}.md`;
}

function writeWhole(file, text) {
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, text);
  fs.renameSync(temp, file);
}
