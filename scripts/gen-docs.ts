// Regenerates the docs that come from code: docs/configuration.md.
import { writeFileSync } from 'node:fs';
import { configurationDoc } from '../src/config/configuration-doc.js';

writeFileSync(new URL('../docs/configuration.md', import.meta.url), configurationDoc());
console.log('wrote docs/configuration.md');
