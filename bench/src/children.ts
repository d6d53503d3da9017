// Long-lived child processes, one per environment a contender needs (UV_THREADPOOL_SIZE=64,
// FSYNC2_NATIVE=off, …): both are read once at process start. A child stays up for the whole
// run, like the long-lived process a real application flushes from, with its pool warm.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Job } from './jobs.js';
import type { Contender, Family, Kind, Measurement } from './types.js';

const SCRIPT = fileURLToPath(new URL('./child.js', import.meta.url));

export type Role = 'node' | 'fsync2';

export interface Hello {
  readonly pid: number;
  readonly uvThreadpoolSize: string | null;
  readonly fsync2: {
    readonly backend: 'native' | 'js';
    readonly nativeReason: string | null;
    readonly options: unknown;
  } | null;
}

export class Child {
  readonly name: string;
  readonly #proc: ChildProcessByStdio<Writable, Readable, null>;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #next = 1;
  #exited: Error | null = null;
  hello: Hello | null = null;

  private constructor(name: string, role: Role, env: NodeJS.ProcessEnv, args: readonly string[]) {
    this.name = name;
    this.#proc = spawn(process.execPath, [SCRIPT, role, ...args], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.#proc.stdout }).on('line', (line) => this.#onLine(line));
    this.#proc.on('exit', (code, signal) => {
      this.#exited = new Error(`child ${name} exited (${signal ?? code})`);
      for (const p of this.#pending.values()) p.reject(this.#exited);
      this.#pending.clear();
    });
    this.#proc.on('error', (err) => {
      this.#exited = err;
    });
  }

  /** Starts a child with `set` added to and `unset` removed from this process's environment. */
  static async start(
    name: string,
    role: Role,
    opts: { set?: Record<string, string>; unset?: readonly string[]; args?: readonly string[] } = {},
  ): Promise<Child> {
    const env = { ...process.env, ...opts.set };
    for (const key of opts.unset ?? []) delete env[key];
    const child = new Child(name, role, env, opts.args ?? []);
    child.hello = (await child.call({ kind: 'hello' })) as Hello;
    return child;
  }

  #onLine(line: string): void {
    let msg: { id: number; ok: boolean; result?: unknown; error?: string };
    try {
      msg = JSON.parse(line);
    } catch {
      process.stderr.write(`[${this.name}] ${line}\n`);
      return;
    }
    const p = this.#pending.get(msg.id);
    if (!p) return;
    this.#pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new Error(`${this.name}: ${msg.error}`));
  }

  call(job: Job): Promise<unknown> {
    if (this.#exited) return Promise.reject(this.#exited);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#proc.stdin.write(`${JSON.stringify({ id, job })}\n`);
    });
  }

  /** Closing stdin lets the child finish and close its pool; kill it if it does not. */
  async close(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#proc.once('exit', () => resolve()));
    this.#proc.stdin.end();
    const timer = setTimeout(() => this.#proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** A contender whose work runs in `child` through the named flusher (null: W4's idle probe). */
export function childContender(
  child: Child,
  c: { id: string; label: string; family: Family; flusher: string | null; kinds: readonly Kind[]; notApplicable?: Partial<Record<Kind, string>> },
): Contender {
  const has = (k: Kind) => c.kinds.includes(k);
  const run = async (job: Job) => (await child.call(job)) as Measurement;
  const flusher = c.flusher;
  return {
    id: c.id,
    label: c.label,
    family: c.family,
    ...(c.notApplicable ? { notApplicable: c.notApplicable } : {}),
    ...(has('flush') && flusher ? { flush: (batch) => run({ kind: 'flush', flusher, batch }) } : {}),
    ...(has('append') && flusher ? { append: (spec) => run({ kind: 'append', flusher, spec }) } : {}),
    ...(has('probe') ? { probe: (spec) => run({ kind: 'probe', flusher, spec }) } : {}),
    ...(has('latency') && flusher ? { latency: (spec) => run({ kind: 'latency', flusher, spec }) } : {}),
  };
}
