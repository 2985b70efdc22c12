import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configurationDoc } from '../src/config/configuration-doc.js';
import { helpText } from '../src/config/help-text.js';
import { settings } from '../src/config/settings.js';
import { errorCatalogue } from '../src/errors/error-catalogue.js';

const read = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

test('docs/errors.md lists exactly the error codes of the catalogue, with their statuses', () => {
  const rows = [...read('docs/errors.md').matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
  const expected = Object.entries(errorCatalogue).map(([code, e]) => [code, e.status]);
  assert.deepEqual(
    [...rows].sort(),
    [...expected].sort(),
  );
});

test('docs/configuration.md is the one generated from the settings (run `npm run docs`)', () => {
  assert.equal(read('docs/configuration.md'), configurationDoc());
});

test('--help and the README mention every setting', () => {
  const help = helpText();
  const readme = read('README.md');
  for (const s of Object.values(settings)) {
    assert.ok(help.includes(`--${s.flag}`) && help.includes(s.env), `--help lacks ${s.env}`);
    assert.ok(readme.includes(s.env), `README lacks ${s.env}`);
  }
});
