#!/usr/bin/env node
// Copies the demo dataset bundled with the package (demo/chest_xray/) from the full chest X-ray
// set beside the checkout: every k-th file of each split and class in name order, bytes untouched,
// with the dataset's CC BY 4.0 attribution and the list of files. Run once; the result is committed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const source = path.resolve(root, '..', 'shared', 'datasets', 'chest_xray');
const target = path.join(root, 'demo', 'chest_xray');
// The real class ratio is about 1:3 in train and 3:5 in test; the demo keeps them.
const counts = { train: { NORMAL: 100, PNEUMONIA: 280 }, test: { NORMAL: 60, PNEUMONIA: 100 } };

fs.rmSync(target, { recursive: true, force: true });
const rows = ['split,class,file,sha256'];
for (const [split, classes] of Object.entries(counts)) {
  for (const [name, count] of Object.entries(classes)) {
    const files = fs.readdirSync(path.join(source, split, name)).sort();
    const step = files.length / count;
    fs.mkdirSync(path.join(target, split, name), { recursive: true });
    for (let i = 0; i < count; i++) {
      const file = files[Math.floor(i * step)];
      const bytes = fs.readFileSync(path.join(source, split, name, file));
      fs.writeFileSync(path.join(target, split, name, file), bytes);
      rows.push(`${split},${name},${file},${crypto.createHash('sha256').update(bytes).digest('hex')}`);
    }
  }
}
fs.writeFileSync(path.join(target, 'MANIFEST.csv'), `${rows.join('\n')}\n`);
console.log(`${rows.length - 1} images copied to ${target}`);
