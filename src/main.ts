import { runCli } from './cli/cli.js';

// Process entry (`npm start`, `npx broker`): the command line, its exit status, never a stack trace.
runCli(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
  (status) => {
    if (status !== undefined) process.exitCode = status;
  },
  (error: unknown) => {
    process.stderr.write(`broker: fatal: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
