/**
 * The one progress bar of the CLI (cli-progress on stderr). Only on a TTY: when stderr is piped or
 * redirected nothing at all is written (no bar characters, no carriage returns), so logs stay clean.
 */
export interface Progress {
  tick: (done: number) => void;
  stop: () => void;
}

export const NO_PROGRESS: Progress = { tick: () => undefined, stop: () => undefined };

export function makeProgress(total: number, label: string, unit = 'images', stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY || !(total > 0)) return NO_PROGRESS;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const cliProgress = require('cli-progress');
  const bar = new cliProgress.SingleBar(
    { stream, format: `${label} [{bar}] {value}/{total} ${unit}`, clearOnComplete: true, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  let stopped = false;
  return {
    tick: (d) => bar.update(d),
    stop: () => {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
