import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

// temp names sit beside the target so the final rename stays on one file system
function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
}

/** Writes data to a temp file beside path, then renames it into place: readers never see a partial file. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const dir = dirname(path);
  if (!existsSync(dir)) throw new Error(`cannot write ${path}: folder ${dir} does not exist`);
  const tmp = tempName(path);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Lets fill() write a folder's files into a temp folder, then moves them into dir: the whole folder when dir is
 * new, else file by file (each replace atomic; files of dir that fill() did not write are left alone).
 */
export function writeDirAtomic(dir: string, fill: (tmp: string) => void): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new Error(`${dir} exists and is not a folder`);
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = tempName(dir);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    fill(tmp);
    if (!existsSync(dir)) {
      renameSync(tmp, dir);
      return;
    }
    for (const f of readdirSync(tmp)) renameSync(join(tmp, f), join(dir, f));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
