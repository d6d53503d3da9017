// Syncer options for the command: defaults < --config FILE (JSON) < FSYNC2_* variables < flags.
// The library's own schema validates the result, so a bad value is named the same way everywhere.
import fs from 'node:fs';
import { createSyncer, OptionsError, type Syncer, type SyncerOptions } from '@fsync2/core';

/** FSYNC2_* variable → option path. */
export const ENV_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  FSYNC2_STRATEGY: ['strategy'],
  FSYNC2_MODE: ['mode'],
  FSYNC2_MIN_THREADS: ['pool', 'minThreads'],
  FSYNC2_MAX_THREADS: ['pool', 'maxThreads'],
  FSYNC2_IDLE_TIMEOUT: ['pool', 'idleTimeout'],
  FSYNC2_ATOMICS: ['pool', 'atomics'],
  FSYNC2_WINDOW_US: ['groupCommit', 'windowUs'],
  FSYNC2_MAX_BATCH: ['groupCommit', 'maxBatch'],
  FSYNC2_MAX_QUEUE: ['maxQueue'],
  FSYNC2_MAX_OPEN_FILES: ['maxOpenFiles'],
  FSYNC2_ALLOW_SYNCFS: ['planner', 'allowSyncfs'],
};

/** A usage or configuration error: the command exits 2 with this message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function set(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    node = (typeof next === 'object' && next !== null ? next : (node[key] = {})) as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

// Numbers and booleans as such; anything else stays a string for the schema to reject by name.
function parseEnvValue(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  return raw;
}

export function loadOptions(configFile: string | undefined, env: NodeJS.ProcessEnv, flags: SyncerOptions): SyncerOptions {
  let options: Record<string, unknown> = {};
  if (configFile !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(configFile, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --config ${configFile}: ${(err as Error).message}`);
    }
    try {
      options = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new UsageError(`--config ${configFile} is not JSON: ${(err as Error).message}`);
    }
  }
  for (const [name, path] of Object.entries(ENV_OPTIONS)) {
    const raw = env[name];
    if (raw !== undefined && raw !== '') set(options, path, parseEnvValue(raw));
  }
  for (const [key, value] of Object.entries(flags)) if (value !== undefined) options[key] = value;
  return options as SyncerOptions;
}

/** A syncer, or a UsageError that says which option (and which variable or file) is wrong. */
export function syncerFrom(options: SyncerOptions, configFile: string | undefined): Syncer {
  try {
    return createSyncer(options);
  } catch (err) {
    if (!(err instanceof OptionsError)) throw err;
    const sources = Object.entries(ENV_OPTIONS)
      .filter(([, path]) => err.issues.some((issue) => issue.startsWith(`options.${path.join('.')}:`)))
      .map(([name]) => name);
    const where = [configFile ? `--config ${configFile}` : null, ...sources].filter(Boolean).join(', ');
    throw new UsageError(`${err.message}${where ? ` (from ${where})` : ''}`);
  }
}
