import { readFileSync } from 'node:fs';
import { createBroker } from './app.js';
import { helpText } from './config/help-text.js';
import { loadConfig } from './config/load-config.js';
import { createLogger } from './logger.js';

/** Process entry (`npm start`, `npx broker`): configuration, listen, signals, exit status. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  const loaded = loadConfig({ argv, env });
  if (loaded.kind === 'help') {
    process.stdout.write(helpText());
    return;
  }
  if (loaded.kind === 'version') {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`broker ${pkg.version}\n`);
    return;
  }
  if (loaded.kind === 'invalid') {
    process.stderr.write(`broker: invalid configuration:\n${loaded.problems.map((p) => `  - ${p}\n`).join('')}`);
    process.exitCode = 2;
    return;
  }
  const config = loaded.config;
  const log = createLogger(config.logLevel);
  const broker = await createBroker(config, log);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    broker.close().then(
      () => {
        log.info('stopped');
        process.exitCode = 0;
      },
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  const address = await broker.listen();
  const url = address.replace('://0.0.0.0:', '://localhost:').replace('://[::]:', '://localhost:');
  // Where it listens is printed at any level but silent: scripts and people wait for this line.
  const startup = config.logLevel === 'silent' ? log : log.child({}, { level: 'info' });
  startup.info({ url, database: config.databaseUrl.kind }, 'Broker listening');
}

main(process.argv.slice(2), process.env).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`broker: fatal: ${message}\n`);
  process.exit(1);
});
