// The ImageFolder layout as torchvision reads it: one subfolder per class (sorted names give the
// class indices), images found at any depth inside them, hidden and non-image files skipped.
import fs from 'node:fs/promises';
import path from 'node:path';
import { KdtorchError } from '../errors.js';

/** torchvision's IMG_EXTENSIONS minus .ppm/.pgm/.tif variants it lacks, compared case-insensitively. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff'] as const;

export interface Sample {
  path: string;
  label: number;
}

export interface ImageFolder {
  root: string;
  classes: string[];
  classToIndex: Record<string, number>;
  samples: Sample[];
  /** Files passed over: names starting with '.', files whose extension is not an image's, and `refused` entries. */
  skipped: { hidden: number; nonImage: number; refused: RefusedEntry[] };
}

/** An entry the walk would not take, and why: a link loop or a link out of the dataset, a second path to a file already counted, a pipe or device, an unreadable folder. */
export interface RefusedEntry {
  file: string;
  reason: string;
}

/**
 * Image files under `dir` in torchvision's order: folders sorted by their path as a string
 * (sorted(os.walk(...))), files sorted by name within each folder. Links are followed, as
 * os.walk(followlinks=True) does, but by real path: a folder already walked (a loop) or a file already
 * counted (two links to one image would put it in train and val at once) is refused, as is a link
 * that leaves the class folder (`up -> ..` would label the other classes' images as this one).
 */
async function listImages(dir: string, walk: Walk): Promise<string[]> {
  const root = await fs.realpath(dir);
  const folders: { dir: string; files: string[] }[] = [];
  const refuse = (file: string, reason: string) => walk.skipped.refused.push({ file, reason });
  const visit = async (current: string, real: string): Promise<void> => {
    walk.folders.add(real);
    const files: string[] = [];
    folders.push({ dir: current, files });
    const entries = await fs.readdir(current, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      refuse(current, `cannot read the folder (${error.code})`);
      return [];
    });
    // Entries that are not links first: of a file and a link to it in one folder, the file is kept.
    entries.sort((a, b) => Number(a.isSymbolicLink()) - Number(b.isSymbolicLink()));
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      if (entry.name.startsWith('.')) {
        walk.skipped.hidden++;
        continue;
      }
      let target = path.join(real, entry.name);
      let kind: 'folder' | 'file' | 'other' = entry.isDirectory() ? 'folder' : entry.isFile() ? 'file' : 'other';
      if (entry.isSymbolicLink()) {
        const linked = await fs.realpath(full).catch(() => undefined);
        const stat = linked && (await fs.stat(linked).catch(() => undefined));
        if (!linked || !stat) {
          refuse(full, 'a link to nothing');
          continue;
        }
        if (linked !== root && !linked.startsWith(root + path.sep)) {
          refuse(full, `a link out of its class folder (to ${linked})`);
          continue;
        }
        target = linked;
        kind = stat.isDirectory() ? 'folder' : stat.isFile() ? 'file' : 'other';
      }
      if (kind === 'folder') {
        if (walk.folders.has(target)) refuse(full, `a second path to the folder ${target} (a link loop?)`);
        else await visit(full, target);
      } else if (!(IMAGE_EXTENSIONS as readonly string[]).includes(path.extname(entry.name).toLowerCase())) {
        walk.skipped.nonImage++;
      } else if (kind === 'other') {
        refuse(full, 'not a regular file (a pipe, socket or device)');
      } else if (walk.files.has(target)) {
        refuse(full, `a second path to ${target}, already counted`);
      } else {
        walk.files.add(target);
        files.push(full);
      }
    }
    files.sort(byString);
  };
  await visit(dir, root);
  folders.sort((a, b) => byString(a.dir, b.dir));
  return folders.flatMap((f) => f.files);
}

/** What one scan has seen, by real path. */
interface Walk {
  folders: Set<string>;
  files: Set<string>;
  skipped: ImageFolder['skipped'];
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A link to a folder is followed (os.walk(followlinks=True)); a dangling link counts as a file. */
async function isFolder(file: string): Promise<boolean> {
  return (await fs.stat(file).catch(() => undefined))?.isDirectory() ?? false;
}

/** Scans `root`/<class>/**. Throws E_DATASET_NOT_FOUND or E_EMPTY_CLASS with the folder named. */
export async function scanImageFolder(root: string): Promise<ImageFolder> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch (error) {
    throw new KdtorchError(
      'E_DATASET_NOT_FOUND',
      `${root}: cannot read the dataset folder (${(error as NodeJS.ErrnoException).code}). Expected ${root}/<class>/<images>`,
      { file: root, cause: error },
    );
  }
  // Like torchvision's find_classes (entry.is_dir() follows links), a linked class folder counts.
  const classes: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory() || (e.isSymbolicLink() && (await isFolder(path.join(root, e.name))))) classes.push(e.name);
  }
  classes.sort(byString);
  if (classes.length === 0) {
    throw new KdtorchError('E_DATASET_NOT_FOUND', `${root}: no class folders. Expected ${root}/<class>/<images>`, {
      file: root,
    });
  }
  const skipped: ImageFolder['skipped'] = { hidden: 0, nonImage: 0, refused: [] };
  const walk: Walk = { folders: new Set(), files: new Set(), skipped };
  const samples: Sample[] = [];
  for (const [label, name] of classes.entries()) {
    const found = await listImages(path.join(root, name), walk);
    if (found.length === 0) {
      throw new KdtorchError(
        'E_EMPTY_CLASS',
        `${path.join(root, name)}: class folder '${name}' holds no images (${IMAGE_EXTENSIONS.join(' ')}); add images or remove the folder`,
        { file: path.join(root, name) },
      );
    }
    for (const file of found) samples.push({ path: file, label });
  }
  return { root, classes, classToIndex: Object.fromEntries(classes.map((c, i) => [c, i])), samples, skipped };
}
