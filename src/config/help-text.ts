import { settings } from './settings.js';

/** `broker --help`, generated from the settings table so it never drifts from the code. */
export function helpText(): string {
  const lines = [
    'Usage: broker [options]',
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
  lines.push('Exit status: 0 after a clean shutdown, 2 on invalid configuration, 1 on a fatal error.');
  return `${lines.join('\n')}\n`;
}
