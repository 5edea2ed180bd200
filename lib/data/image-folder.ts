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
  /** Files passed over: names starting with '.', and files whose extension is not an image's. */
  skipped: { hidden: number; nonImage: number };
}

/**
 * Image files under `dir` in torchvision's order: folders sorted by their path as a string
 * (sorted(os.walk(...))), files sorted by name within each folder.
 */
async function listImages(dir: string, skipped: ImageFolder['skipped']): Promise<string[]> {
  const folders: { dir: string; files: string[] }[] = [];
  const visit = async (current: string): Promise<void> => {
    const files: string[] = [];
    folders.push({ dir: current, files });
    for (const entry of await fs.readdir(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.name.startsWith('.')) {
        skipped.hidden++;
      } else if (entry.isDirectory() || (entry.isSymbolicLink() && (await isFolder(full)))) {
        await visit(full);
      } else if ((IMAGE_EXTENSIONS as readonly string[]).includes(path.extname(entry.name).toLowerCase())) {
        files.push(full);
      } else {
        skipped.nonImage++;
      }
    }
    files.sort(byString);
  };
  await visit(dir);
  folders.sort((a, b) => byString(a.dir, b.dir));
  return folders.flatMap((f) => f.files);
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
  const skipped = { hidden: 0, nonImage: 0 };
  const samples: Sample[] = [];
  for (const [label, name] of classes.entries()) {
    const found = await listImages(path.join(root, name), skipped);
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
