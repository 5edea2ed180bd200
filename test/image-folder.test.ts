import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ImageFolder, scanImageFolder } from '../lib/data/image-folder.js';
import { loadSplits } from '../lib/data/splits.js';
import { rejection } from './helpers/errors.js';
import { dataReference, writeImage } from './helpers/images.js';
import { ROOT, tempDir } from './helpers/run.js';

describe('scanImageFolder', () => {
  const root = tempDir('folder');
  beforeAll(async () => {
    for (const file of [
      'b/z.jpg',
      'b/sub/x.PNG',
      'b/sub2/y.JPEG',
      'b/sub/deep/w.webp',
      'a/1.bmp.jpg',
      'a/2.tif',
      'a/Q.jpg',
    ]) {
      await writeImage(path.join(root, file.replace('.tif', '.png')), 8, 8);
    }
    fs.renameSync(path.join(root, 'a/2.png'), path.join(root, 'a/2.tif'));
    fs.writeFileSync(path.join(root, 'a', 'notes.txt'), 'not an image');
    fs.writeFileSync(path.join(root, 'a', '.DS_Store'), '');
  });

  it('reads classes, indices and samples in torchvision’s order, skipping hidden and non-image files', async () => {
    // torchvision also takes hidden files and folders (a '.git' becomes a class); kdtorch skips every
    // hidden name, so torchvision reads the folder before they are added.
    const theirs = dataReference<{ classes: string[]; classToIndex: object; samples: [string, number][] }>('folder', {
      root,
    });
    await writeImage(path.join(root, 'a', '.hidden.jpg'), 8, 8);
    fs.mkdirSync(path.join(root, '.git'));
    const ours = await scanImageFolder(root);
    expect(ours.classes).toEqual(theirs.classes);
    expect(ours.classToIndex).toEqual(theirs.classToIndex);
    expect(ours.samples.map((s) => [s.path, s.label])).toEqual(theirs.samples);
    expect(ours.skipped).toEqual({ hidden: 2, nonImage: 1, refused: [] }); // .DS_Store and .hidden.jpg; notes.txt
  });

  it('follows a class folder that is a link, as torchvision does (a dataset assembled from parts)', async () => {
    const parts = tempDir('class-parts');
    for (const file of ['one/a/1.jpg', 'one/a/2.png', 'two/b/3.jpg', 'two/b/sub/4.jpg']) {
      await writeImage(path.join(parts, file), 8, 8);
    }
    const assembled = tempDir('linked-classes');
    fs.symlinkSync(path.join(parts, 'one', 'a'), path.join(assembled, 'a'));
    fs.symlinkSync(path.join(parts, 'two', 'b'), path.join(assembled, 'b'));
    const theirs = dataReference<{ classes: string[]; samples: [string, number][] }>('folder', { root: assembled });
    const ours = await scanImageFolder(assembled);
    expect(ours.classes).toEqual(['a', 'b']);
    expect(ours.samples).toHaveLength(4);
    expect(ours.classes).toEqual(theirs.classes);
    expect(ours.samples.map((s) => [s.path, s.label])).toEqual(theirs.samples);
  });

  it('follows links by real path: loops, second paths, links out of the class and pipes are refused and listed', async () => {
    const dir = tempDir('links');
    const data = path.join(dir, 'data');
    await writeImage(path.join(data, 'a', 'one.jpg'), 8, 8);
    await writeImage(path.join(data, 'b', 'two.jpg'), 8, 8);
    await writeImage(path.join(dir, 'outside', 'three.jpg'), 8, 8);
    fs.symlinkSync('.', path.join(data, 'a', 'loop')); // counted 41 times before
    fs.symlinkSync('..', path.join(data, 'a', 'up')); // would label b's images as a
    fs.symlinkSync(path.join(dir, 'outside'), path.join(data, 'b', 'away'));
    fs.symlinkSync('two.jpg', path.join(data, 'b', 'again.jpg'));
    fs.symlinkSync('missing.jpg', path.join(data, 'b', 'dangling.jpg'));
    spawnSync('mkfifo', [path.join(data, 'b', 'pipe.jpg')]);
    const scanned = await scanImageFolder(data);
    expect(scanned.samples.map((s) => [path.relative(data, s.path), s.label])).toEqual([
      ['a/one.jpg', 0],
      ['b/two.jpg', 1],
    ]);
    const refused = Object.fromEntries(scanned.skipped.refused.map((r) => [path.relative(data, r.file), r.reason]));
    expect(Object.keys(refused).sort()).toEqual([
      'a/loop',
      'a/up',
      'b/again.jpg',
      'b/away',
      'b/dangling.jpg',
      'b/pipe.jpg',
    ]);
    expect(refused['a/loop']).toMatch(/second path to the folder .*link loop/);
    expect(refused['a/up']).toMatch(/out of its class folder/);
    expect(refused['b/away']).toMatch(/out of its class folder/);
    expect(refused['b/again.jpg']).toMatch(/already counted/);
    expect(refused['b/dangling.jpg']).toMatch(/link to nothing/);
    expect(refused['b/pipe.jpg']).toMatch(/not a regular file/);
  });

  it('lists an unreadable folder as refused, with its errno, and keeps walking', async () => {
    const dir = tempDir('unreadable');
    fs.chmodSync(dir, 0o755);
    await writeImage(path.join(dir, 'a', 'one.jpg'), 8, 8);
    await writeImage(path.join(dir, 'a', 'locked', 'two.jpg'), 8, 8);
    await writeImage(path.join(dir, 'b', 'three.jpg'), 8, 8);
    fs.chmodSync(path.join(dir, 'a', 'locked'), 0);
    // root reads any folder: the walk then runs as nobody, in a child.
    const script = `import(${JSON.stringify(path.join(ROOT, 'dist', 'lib', 'index.js'))}).then((m) => m.scanImageFolder(${JSON.stringify(dir)})).then((r) => console.log(JSON.stringify(r)))`;
    const asRoot = process.getuid?.() === 0;
    const child = spawnSync(
      asRoot ? 'setpriv' : process.execPath,
      [...(asRoot ? ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath] : []), '-e', script],
      { encoding: 'utf8' },
    );
    fs.chmodSync(path.join(dir, 'a', 'locked'), 0o755);
    expect(child.status, child.stderr).toBe(0);
    const scanned = JSON.parse(child.stdout) as ImageFolder;
    expect(scanned.samples.map((s) => path.relative(dir, s.path))).toEqual(['a/one.jpg', 'b/three.jpg']);
    expect(scanned.skipped.refused).toEqual([
      { file: path.join(dir, 'a', 'locked'), reason: 'cannot read the folder (EACCES)' },
    ]);
  });

  it('names a missing folder and an empty class', async () => {
    const missing = await rejection(scanImageFolder(path.join(root, 'nope')));
    expect(missing.code).toBe('E_DATASET_NOT_FOUND');
    expect(missing.message).toContain(path.join(root, 'nope'));
    const empty = tempDir('empty-class');
    await writeImage(path.join(empty, 'cats', 'c.jpg'), 8, 8);
    fs.mkdirSync(path.join(empty, 'dogs'));
    fs.writeFileSync(path.join(empty, 'dogs', 'readme.md'), '');
    const error = await rejection(scanImageFolder(empty));
    expect(error.code).toBe('E_EMPTY_CLASS');
    expect(error.message).toContain("class folder 'dogs' holds no images");
  });
});

describe('loadSplits', () => {
  it('carves a stratified, seeded validation split from train when val/ is too small (the Kaggle case)', async () => {
    const root = tempDir('splits');
    for (let i = 0; i < 30; i++) await writeImage(path.join(root, 'train', 'NORMAL', `n${i}.png`), 4, 4, i);
    for (let i = 0; i < 90; i++) await writeImage(path.join(root, 'train', 'PNEUMONIA', `p${i}.png`), 4, 4, i);
    for (const c of ['NORMAL', 'PNEUMONIA']) await writeImage(path.join(root, 'val', c, 'v.png'), 4, 4);
    for (const c of ['NORMAL', 'PNEUMONIA']) await writeImage(path.join(root, 'test', c, 't.png'), 4, 4);
    const splits = await loadSplits(root, { valFraction: 0.2, seed: 3 });
    expect(splits.valSource).toBe('carved from train');
    const count = (samples: { label: number }[], label: number) => samples.filter((s) => s.label === label).length;
    // 31 and 91 images with the two val images merged in: round(0.2 × n) of each class.
    expect([count(splits.val, 0), count(splits.val, 1)]).toEqual([6, 18]);
    expect(splits.train.length + splits.val.length).toBe(122);
    expect(splits.test).toHaveLength(2);
    expect(new Set([...splits.train, ...splits.val].map((s) => s.path)).size).toBe(122);
    const again = await loadSplits(root, { valFraction: 0.2, seed: 3 });
    expect(again.val).toEqual(splits.val);
    const other = await loadSplits(root, { valFraction: 0.2, seed: 4 });
    expect(other.val).not.toEqual(splits.val);
    const big = await loadSplits(root, { minValImages: 2 });
    expect(big).toMatchObject({ valSource: 'val' });
    expect(big.val).toHaveLength(2);
    // Validating on test (the article preset), the whole train folder trains, as in the article.
    const uncarved = await loadSplits(root, { carve: false });
    expect(uncarved.train).toHaveLength(120);
    expect(uncarved.val).toHaveLength(2);
  });

  it('refuses splits whose class folders differ, naming both sets', async () => {
    const root = tempDir('mismatch');
    await writeImage(path.join(root, 'train', 'NORMAL', 'a.png'), 4, 4);
    await writeImage(path.join(root, 'train', 'PNEUMONIA', 'b.png'), 4, 4);
    await writeImage(path.join(root, 'test', 'NORMAL', 'c.png'), 4, 4);
    await writeImage(path.join(root, 'test', 'COVID', 'd.png'), 4, 4);
    const error = await rejection(loadSplits(root));
    expect(error.code).toBe('E_CLASS_MISMATCH');
    expect(error.message).toContain('classes [COVID, NORMAL] but train has [NORMAL, PNEUMONIA]');
  });
});
