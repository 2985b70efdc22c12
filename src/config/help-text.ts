import { settings } from './settings.js';

/** The subcommands of `broker`, one line each: listed by `broker --help`, and the commands' summaries. */
export const COMMAND_SUMMARIES = {
  serve: 'run the server (the default when no command is given)',
  users: 'manage users and roles: add, list, disable, enable, roles, passwd (`broker users --help`)',
  backup: 'copy the SQLite database to FILE while Broker runs (`broker backup FILE`)',
  restore: 'put a backup back in place of the SQLite database, Broker stopped (`broker restore FILE`)',
  export: 'write the whole database, either backend, as an NDJSON export (`broker export [--out FILE]`)',
  import: 'load an export into an empty database of either backend (`broker import FILE|-`)',
} as const;

/** `broker --help`, generated from the settings table so it never drifts from the code. */
export function helpText(): string {
  const lines = [
    'Usage: broker [serve] [options]',
    '       broker <command> … (see Commands below)',
    '',
    'Real-time, zero-code API server: users, JWT, scheduled immutable events and',
    'Server-Sent Events with snapshot and resume. Every option can also be given',
    'as the environment variable in brackets; a flag wins over the environment.',
    '',
    'Options:',
  ];
  for (const s of Object.values(settings)) {
    const def = s.default === undefined ? '' : ` (default: ${s.default})`;
    lines.push(`  --${s.flag} <value>  [${s.env}]${def}`);
    lines.push(`      ${s.doc}`);
  }
  lines.push('  -h, --help     Show this help and exit.');
  lines.push('  -v, --version  Print the version and exit.');
  lines.push('');
  lines.push('Commands:');
  for (const [name, summary] of Object.entries(COMMAND_SUMMARIES)) lines.push(`  ${name.padEnd(8)} ${summary}`);
  lines.push('');
  lines.push('Signals: SIGTERM/SIGINT shut down gracefully; SIGHUP reloads the RULES file and TLS_CERT/TLS_KEY.');
  lines.push('Exit status: 0 after a clean shutdown, 2 on invalid configuration, rules or TLS files, 1 on a fatal error.');
  return `${lines.join('\n')}\n`;
}
