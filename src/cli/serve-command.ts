import { readFileSync } from 'node:fs';
import { RulesError } from '../access/rules.js';
import type { Broker } from '../app.js';
import { COMMAND_SUMMARIES, helpText } from '../config/help-text.js';
import { TlsError } from '../http/tls-credentials.js';
import { loadConfig } from '../config/load-config.js';
import { createLogger } from '../logger.js';
import { StorageOpenError } from '../store/storage-health.js';
import { CliError, type CliIo, EXIT } from './cli-io.js';
import type { Command } from './command.js';

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * `broker` / `broker serve`: configuration, listen, signals. SIGTERM and SIGINT shut down
 * gracefully (exit 0); SIGHUP reloads the RULES file and the TLS certificate and key (an invalid
 * one keeps what is in effect).
 */
export const serveCommand: Command = {
  name: 'serve',
  summary: COMMAND_SUMMARIES.serve,
  async run(argv, io: CliIo) {
    const loaded = loadConfig({ argv, env: io.env });
    if (loaded.kind === 'help') {
      io.stdout.write(helpText());
      return EXIT.ok;
    }
    if (loaded.kind === 'version') {
      io.stdout.write(`broker ${packageVersion()}\n`);
      return EXIT.ok;
    }
    if (loaded.kind === 'invalid') {
      throw new CliError(`invalid configuration:\n${loaded.problems.map((p) => `  - ${p}\n`).join('').trimEnd()}`, EXIT.usage);
    }
    const config = loaded.config;
    const log = createLogger(config.logLevel);
    // Loaded here, not at the top: the server's modules (~35 MB of RSS) are not the other
    // commands' to carry, and export and import must stay small for a million events.
    const { createBroker } = await import('../app.js');
    let broker: Broker;
    try {
      broker = await createBroker(config, log);
    } catch (error) {
      if (error instanceof RulesError) throw new CliError(`invalid rules: ${error.message}`, EXIT.usage);
      if (error instanceof StorageOpenError) throw new CliError(error.message, EXIT.usage);
      if (error instanceof TlsError) throw new CliError(`invalid TLS certificate or key: ${error.message}`, EXIT.usage);
      throw error;
    }

    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      broker.close().then(
        () => {
          log.info('stopped');
          process.exitCode = EXIT.ok;
        },
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed');
          process.exitCode = EXIT.failed;
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      try {
        log.info(broker.core.reloadRules());
      } catch (error) {
        log.error({ err: error }, 'the new rules are invalid; keeping the rules in effect');
      }
      try {
        const certificate = broker.reloadTls();
        if (certificate) log.info({ certificate }, 'reloaded the TLS certificate and key; new connections use them');
        if (certificate?.expired) log.warn({ certificate }, 'the TLS certificate has expired');
      } catch (error) {
        log.error({ err: error }, 'the new TLS certificate or key is invalid; keeping the certificate in use');
      }
    });

    const address = await broker.listen();
    const url = address.replace('://0.0.0.0:', '://localhost:').replace('://[::]:', '://localhost:');
    // Where it listens is printed at any level but silent: scripts and people wait for this line.
    const startup = config.logLevel === 'silent' ? log : log.child({}, { level: 'info' });
    const certificate = broker.certificate;
    startup.info(
      { url, database: config.databaseUrl.kind, rules: config.rules ?? 'default', ...(certificate ? { certificate } : {}) },
      'Broker listening',
    );
    if (certificate?.expired) log.warn({ certificate }, 'the TLS certificate has expired: clients will refuse it');
    return undefined;
  },
};
