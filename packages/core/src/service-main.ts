import { type Logger, type LoggerOptions, createLogger } from './logger.js';
import { toError } from './errors.js';

/** What a service start opened, closed in reverse order; a failing step is logged and the rest still run. */
export type Closers = {
  readonly add: (close: () => Promise<void> | void) => void;
  /** Closes everything added so far (each once), newest first. */
  readonly closeAll: () => Promise<void>;
};

export function createClosers(logger: Pick<Logger, 'warn'>, what: string): Closers {
  const closers: (() => Promise<void> | void)[] = [];
  return {
    add: (close) => {
      closers.push(close);
    },
    closeAll: async () => {
      for (const close of closers.splice(0).reverse()) {
        try {
          await close();
        } catch (err) {
          logger.warn({ err: toError(err).message }, `${what} shutdown step failed`);
        }
      }
    },
  };
}

/** What a service's start function returns: something that stops it. */
export type RunningService = { stop(): Promise<void> };

/**
 * The body of every service's main.ts: read the log level from the service's config, start the service with
 * that logger, and stop it on SIGTERM/SIGINT (exit 0, or 1 if stopping fails). A start that throws (bad
 * configuration, a port in use, a server that is not there) prints `<name>: <message>` and exits 1.
 */
export function runServiceMain(
  name: string,
  logLevel: () => NonNullable<LoggerOptions['level']>,
  start: (logger: Logger) => Promise<RunningService>,
): void {
  const fail = (prefix: string, err: unknown): void => {
    process.stderr.write(`${name}: ${prefix}${toError(err).message}\n`);
    process.exit(1);
  };
  const main = async (): Promise<void> => {
    const logger = createLogger({ name, level: logLevel() });
    const service = await start(logger);
    let stopping = false;
    const shutdown = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      service.stop().then(
        () => process.exit(0),
        (err: unknown) => fail('shutdown failed: ', err),
      );
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  };
  main().catch((err: unknown) => fail('', err));
}
