export { runCli } from './cli.js';
export { UsageError, loadOptions, ENV_OPTIONS } from './config.js';
export type { Io } from './sync-command.js';
export type { Stop } from './copy-command.js';
