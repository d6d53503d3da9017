// Walking the given paths: every regular file and every directory, symlinks not followed unless
// asked (a link's own entry lives in its directory, which is made durable).
import fs from 'node:fs/promises';
import path from 'node:path';

export interface Tree {
  readonly files: Array<{ readonly path: string; readonly size: number }>;
  readonly dirs: string[];
  /** Symlinks not followed: their entries live in their directories, which are flushed. */
  readonly links: string[];
  /** Sockets, FIFOs and devices: nothing to flush. */
  readonly skipped: string[];
  /** Paths that could not be read (the error is the walk's own; the sync never saw them). */
  readonly errors: Array<{ readonly path: string; readonly error: NodeJS.ErrnoException }>;
}

export async function walk(roots: readonly string[], follow: boolean): Promise<Tree> {
  const tree: Tree = { files: [], dirs: [], links: [], skipped: [], errors: [] };
  const seen = new Set<string>(); // dev:ino of directories: --follow may loop
  const visit = async (p: string): Promise<void> => {
    let st;
    try {
      st = follow ? await fs.stat(p) : await fs.lstat(p);
    } catch (err) {
      tree.errors.push({ path: p, error: err as NodeJS.ErrnoException });
      return;
    }
    if (st.isFile()) {
      tree.files.push({ path: p, size: st.size });
    } else if (st.isDirectory()) {
      const id = `${st.dev}:${st.ino}`;
      if (seen.has(id)) return;
      seen.add(id);
      tree.dirs.push(p);
      let names: string[];
      try {
        names = await fs.readdir(p);
      } catch (err) {
        tree.errors.push({ path: p, error: err as NodeJS.ErrnoException });
        return;
      }
      for (const name of names.sort()) await visit(path.join(p, name));
    } else if (st.isSymbolicLink()) {
      tree.links.push(p);
    } else {
      tree.skipped.push(p);
    }
  };
  for (const root of roots) await visit(path.resolve(root));
  return tree;
}
