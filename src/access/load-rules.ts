import { readFileSync } from 'node:fs';
import { compileRules, DEFAULT_RULES_DOCUMENT, type Rules, RulesError } from './rules.js';

/** Largest rules file read, in bytes: a rules file is a few lines, never megabytes. */
const MAX_RULES_FILE_BYTES = 1024 * 1024;

/**
 * The rules in effect: from the file `path` (RULES), from a document given by a host program
 * (the library's `rules` option), or the default single rule. Throws RulesError with the file
 * name, the rule and the problem.
 */
export function loadRules(source: string | object | undefined): Rules {
  if (source === undefined) return compileRules(DEFAULT_RULES_DOCUMENT);
  if (typeof source !== 'string') return compileRules(source);
  let text: string;
  try {
    const bytes = readFileSync(source);
    if (bytes.length > MAX_RULES_FILE_BYTES) throw new RulesError(`${source}: larger than ${MAX_RULES_FILE_BYTES} bytes`);
    text = bytes.toString('utf8');
  } catch (error) {
    if (error instanceof RulesError) throw error;
    const code = (error as { code?: unknown }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String((error as Error).message);
    throw new RulesError(`cannot read the rules file ${source}: ${why}`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new RulesError(`${source} is not valid JSON: ${(error as Error).message}`);
  }
  try {
    return compileRules(document);
  } catch (error) {
    if (error instanceof RulesError) throw new RulesError(`${source}: ${error.message}`);
    throw error;
  }
}
