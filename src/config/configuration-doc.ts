import { settings } from './settings.js';

/**
 * docs/configuration.md, generated from the settings table (`npm run docs`); a test fails when
 * the committed file differs, so the doc cannot drift from the code.
 */
export function configurationDoc(): string {
  const rows = Object.values(settings).map((s) => {
    const def = s.default === undefined ? '*(none)*' : `\`${s.default}\``;
    return `| \`${s.env}\` | \`--${s.flag}\` | ${def} | ${s.doc.replaceAll('|', '\\|')} |`;
  });
  return `# Configuration

<!-- Generated from src/config/settings.ts by \`npm run docs\`; do not edit by hand. -->

Every setting can be given as an environment variable or as a command-line flag
(\`npx broker --port 9000\`); a flag wins over the environment. All settings are read and checked
at start-up: if any is invalid, Broker lists **every** problem on stderr and exits with status 2,
before opening the database or the port. A variable set to the empty string counts as unset.
\`npx broker --help\` prints the same table.

| Variable | Flag | Default | Meaning |
|---|---|---|---|
${rows.join('\n')}

## Notes

- **\`SECRET\`.** Without it Broker generates a 384-bit random secret on first start, stores it in
  \`secret\` next to the SQLite file (\`./tmp/secret\` by default, mode 0600), logs a warning once,
  and reuses it on later starts so issued tokens stay valid. With \`NODE_ENV=production\` a missing
  \`SECRET\` is a start-up error: production keys belong in your secret store, not on a disk.
  Secrets shorter than 32 characters are accepted (the original accepted any) but logged as weak.
- **\`ORIGIN\`.** \`*\` allows every origin without credentials. A list of origins allows exactly
  those, with credentials, so that the \`access_token\` cookie works for \`STREAM_AUTH\`.
- **\`DATABASE_URL\`.** \`sqlite:<path>\` is relative to the working directory, like the original's
  \`./tmp\`. \`sqlite::memory:\` keeps everything in memory (tests only: nothing survives a restart).
  \`postgres://user:password@host:5432/db\` stores everything in PostgreSQL and fans out through
  LISTEN/NOTIFY, so several Broker nodes can share one database (see operations.md). Without
  \`SECRET\`, the first node generates one and keeps it in the database for all nodes.
- **\`MAX_SUBSCRIBERS\`.** The automatic value reads the process's open-file limit
  (\`/proc/self/limits\`) and keeps 500 descriptors free for the database and ordinary requests,
  so that hitting the limit refuses a stream with 503 instead of failing \`accept()\`.
- **\`TLS_CERT\`, \`TLS_KEY\`.** Both or neither. With both, Broker serves HTTPS on \`PORT\` (and
  nothing in clear): HTTP/2 to the clients that offer it (browsers do, by ALPN), HTTP/1.1 to the
  others. Both files are checked at start-up — readable, a PEM certificate (its chain may follow
  it), an unencrypted PEM key that belongs to it — and any problem stops Broker with exit status
  2 and one line naming the file, before the database is opened. \`SIGHUP\` reads them again
  (after a renewal): new connections get the new certificate, open ones and their streams go on;
  an invalid new pair is logged and the one in use stays. An expired certificate is served, with
  a warning in the log.
- **\`LOGIN_RATE_LIMIT\`.** Counted in fixed one-minute windows per client IP and per username
  (case-insensitive); \`POST /users\` and \`POST /login\` share the counters. Behind a reverse proxy,
  set \`TRUST_PROXY=true\` or every client shares the proxy's IP.
- **Exit status.** 0 after a clean shutdown (SIGTERM/SIGINT), 2 for invalid configuration (a
  setting, the rules file, the TLS certificate or key),
  1 for a fatal error at start-up (e.g. the port is taken or the database cannot be opened).
`;
}
