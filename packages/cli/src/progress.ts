// A progress bar on stderr (files, bytes, rate) for people at a terminal; nothing otherwise.
import cliProgress from 'cli-progress';

export interface Progress {
  add(files: number, bytes: number): void;
  stop(): void;
}

const NONE: Progress = { add() {}, stop() {} };

export function progress(label: string, totalFiles: number, enabled: boolean): Progress {
  if (!enabled || !process.stderr.isTTY || totalFiles === 0) return NONE;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} {bar} {value}/{total} files | {mib} MiB | {rate} files/s`,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = performance.now();
  let files = 0;
  let bytes = 0;
  bar.start(totalFiles, 0, { mib: '0.0', rate: '0' });
  return {
    add(n, b) {
      files += n;
      bytes += b;
      const secs = (performance.now() - started) / 1000;
      bar.update(files, { mib: (bytes / 2 ** 20).toFixed(1), rate: secs > 0 ? Math.round(files / secs) : 0 });
    },
    stop() {
      bar.stop();
    },
  };
}
