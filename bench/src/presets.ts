// Sizes for --quick (a CI smoke test under a minute), the default, and --large.

export type PresetName = 'quick' | 'default' | 'large';

export interface Preset {
  readonly name: PresetName;
  readonly rounds: number;
  /** W1: files per batch, one case each; 4 KiB files. */
  readonly w1: readonly number[];
  /** W2: small files flushed while noiseMiB of unrelated dirty data sits on the filesystem. */
  readonly w2: { readonly files: number; readonly noiseMiB: number };
  readonly w3: { readonly appenders: number; readonly seconds: number; readonly bytes: number };
  /** W4: files flushed under the probe; idleMs: how long the idle process is probed. */
  readonly w4: { readonly files: number; readonly idleMs: number };
  readonly w5: { readonly iterations: number; readonly bytes: number };
  readonly w6: { readonly files: number; readonly mib: number };
  /** W7: files spread over the disk and a loop-mounted ext4 of imageMiB. */
  readonly w7: { readonly files: number; readonly imageMiB: number };
}

export const PRESETS: Readonly<Record<PresetName, Preset>> = {
  quick: {
    name: 'quick',
    rounds: 2,
    w1: [200],
    w2: { files: 100, noiseMiB: 64 },
    w3: { appenders: 64, seconds: 0.5, bytes: 128 },
    w4: { files: 1000, idleMs: 200 },
    w5: { iterations: 10, bytes: 4096 },
    w6: { files: 4, mib: 8 },
    w7: { files: 200, imageMiB: 256 },
  },
  default: {
    name: 'default',
    rounds: 5,
    w1: [1000, 10000],
    w2: { files: 100, noiseMiB: 512 },
    w3: { appenders: 64, seconds: 2, bytes: 128 },
    w4: { files: 10000, idleMs: 500 },
    w5: { iterations: 50, bytes: 4096 },
    w6: { files: 16, mib: 64 },
    w7: { files: 1000, imageMiB: 256 },
  },
  large: {
    name: 'large',
    rounds: 9,
    // 50,000 only where the fd limit allows every contender to hold the batch open at once.
    w1: [1000, 10000, 50000],
    w2: { files: 100, noiseMiB: 2048 },
    w3: { appenders: 64, seconds: 5, bytes: 128 },
    w4: { files: 10000, idleMs: 1000 },
    w5: { iterations: 200, bytes: 4096 },
    // 2 GiB: below the usual dirty_background threshold, so the data is still dirty when timed.
    w6: { files: 16, mib: 128 },
    w7: { files: 10000, imageMiB: 256 },
  },
};
