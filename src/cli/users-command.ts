import { PasswordHasher } from '../auth/password-hasher.js';
import { type UserEdit, UserService } from '../auth/user-service.js';
import { COMMAND_SUMMARIES } from '../config/help-text.js';
import type { ExtraOption } from '../config/load-config.js';
import type { Store } from '../store/store.js';
import { CliError, type CliIo, EXIT } from './cli-io.js';
import { type Command, type ParsedArgs, parseCommand, SETTINGS_HELP, toCliError } from './command.js';
import { readPassword } from './read-password.js';

const HELP = `Usage: broker users <command> [arguments] [options]

Manages users on the database of DATABASE_URL, whether or not Broker runs on it; running nodes
apply every change within a second (disabled users and changed roles end their tokens and streams).
Passwords are read from stdin (the first line), never from the command line.

Commands:
  add NAME [--role ROLE]... [--info JSON]   create a user (password on stdin); prints its id
  list [--search TEXT] [--limit N] [--json] list users in name order
  disable NAME                              refuse the user's logins and end their tokens and streams
  enable NAME                               allow the user to log in again
  roles NAME [ROLE]...                      set the user's roles (none: no roles)
  passwd NAME                               set the password (new password on stdin); ends every session

Examples:
  printf %s "$ADMIN_PASSWORD" | npx broker users add ada --role admin
  npx broker users roles bob editor
  npx broker users list --search bo

${SETTINGS_HELP}
Exit status: 0 done, 1 failed (no such user, database unreachable), 2 bad usage.
`;

type Sub = (args: ParsedArgs, io: CliIo, users: UserService) => Promise<void>;

const subcommands: Readonly<Record<string, { options: Record<string, ExtraOption>; args: string; run: Sub }>> = {
  add: {
    options: { role: { type: 'string', multiple: true }, info: { type: 'string' } },
    args: 'NAME',
    run: async ({ positionals, extra }, io, users) => {
      const username = one(positionals, 'NAME');
      let info: unknown = null;
      if (typeof extra.info === 'string') {
        try {
          info = JSON.parse(extra.info) as unknown;
        } catch {
          throw new CliError('--info must be JSON, e.g. --info \'{"team":"blue"}\'', EXIT.usage);
        }
      }
      const roles = (extra.role as string[] | undefined) ?? [];
      const password = await readPassword(io, `Password for ${username}: `);
      const id = await users.create({ username, password, info, roles });
      io.stdout.write(`${id}\n`);
    },
  },
  list: {
    options: { search: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } },
    args: '',
    run: async ({ positionals, extra }, io, users) => {
      if (positionals.length > 0) throw new CliError(`unexpected argument "${positionals[0]}"`, EXIT.usage);
      let left = Number.POSITIVE_INFINITY;
      if (extra.limit !== undefined) {
        if (typeof extra.limit !== 'string' || !/^[1-9]\d{0,8}$/.test(extra.limit)) {
          throw new CliError('--limit must be a whole number of at least 1', EXIT.usage);
        }
        left = Number(extra.limit);
      }
      const search = typeof extra.search === 'string' ? extra.search : undefined;
      if (extra.json !== true) io.stdout.write('id\tusername\troles\tdisabled\n');
      let after: string | undefined;
      while (left > 0) {
        const page = await users.list({ limit: Math.min(1000, left), ...(search ? { search } : {}), ...(after ? { after } : {}) });
        for (const u of page.users) {
          io.stdout.write(
            extra.json === true
              ? `${JSON.stringify({ id: u.id, username: u.username, roles: u.roles, disabled: u.disabled, created_at: u.createdAt })}\n`
              : `${u.id}\t${u.username}\t${u.roles.join(',')}\t${u.disabled}\n`,
          );
        }
        left -= page.users.length;
        if (page.next === undefined) break;
        after = page.next;
      }
    },
  },
  disable: { options: {}, args: 'NAME', run: (a, io, users) => edit(a, io, users, { disabled: true }) },
  enable: { options: {}, args: 'NAME', run: (a, io, users) => edit(a, io, users, { disabled: false }) },
  roles: {
    options: {},
    args: 'NAME [ROLE]...',
    run: async ({ positionals }, io, users) => {
      const [name, ...roles] = positionals;
      if (name === undefined) throw new CliError('NAME is required', EXIT.usage);
      const user = await users.edit((await users.findByName(name)).id, { roles });
      io.stdout.write(`${user.username}: ${user.roles.length === 0 ? '(no roles)' : user.roles.join(', ')}\n`);
    },
  },
  passwd: {
    options: {},
    args: 'NAME',
    run: async ({ positionals }, io, users) => {
      const user = await users.findByName(one(positionals, 'NAME'));
      const password = await readPassword(io, `New password for ${user.username}: `);
      await users.edit(user.id, { password });
      io.stdout.write(`${user.username}: password changed; every session ended\n`);
    },
  },
};

async function edit(args: ParsedArgs, io: CliIo, users: UserService, change: UserEdit): Promise<void> {
  const user = await users.findByName(one(args.positionals, 'NAME'));
  await users.edit(user.id, change);
  io.stdout.write(`${user.username}: ${change.disabled ? 'disabled' : 'enabled'}\n`);
}

function one(positionals: readonly string[], what: string): string {
  if (positionals.length === 0) throw new CliError(`${what} is required`, EXIT.usage);
  if (positionals.length > 1) throw new CliError(`unexpected argument "${positionals[1]}"`, EXIT.usage);
  return positionals[0] as string;
}

/** `broker users …`: the first admin and every other user change, from the command line. */
export const usersCommand: Command = {
  name: 'users',
  summary: COMMAND_SUMMARIES.users,
  async run(argv, io) {
    const [name, ...rest] = argv;
    if (name === undefined || name === '--help' || name === '-h') {
      io.stdout.write(HELP);
      return name === undefined ? EXIT.usage : EXIT.ok;
    }
    const sub = subcommands[name];
    if (!sub) throw new CliError(`unknown command "users ${name}" (see broker users --help)`, EXIT.usage);
    const help = `Usage: broker users ${name} ${sub.args}${Object.keys(sub.options).length ? ' [options]' : ''}\n\n${HELP.split('\n\n')[2]}\n\n${SETTINGS_HELP}\n`;
    const args = parseCommand(rest, io, sub.options, help);
    if (!args) return EXIT.ok;
    let store: Store | undefined;
    try {
      // Loaded when used (see serve-command.ts): the store pulls in most of the server.
      const { openStore } = await import('../broker-core.js');
      store = await openStore(args.config);
      // Running nodes hear of each change through the auth change log the store keeps.
      const users = new UserService(store.users, new PasswordHasher(args.config.bcryptCost), args.config.passwordMinLength, () => {});
      await sub.run(args, io, users);
      return EXIT.ok;
    } catch (error) {
      throw toCliError(error);
    } finally {
      await store?.close();
    }
  },
};
