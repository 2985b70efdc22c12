/** Longest event name, in characters (code points). */
export const MAX_EVENT_NAME_LENGTH = 256;
// \p{Cc}: C0 and C1 controls, DEL. CR or LF in a name would break the SSE frame it goes into.
const CONTROL = /\p{Cc}/u;
// With the u flag a proper surrogate pair is one code point, so only lone halves match.
export const LONE_SURROGATE = /\p{Cs}/u;

/** Why `name` cannot be an event name, or undefined if it can. */
export function eventNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if ([...name].length > MAX_EVENT_NAME_LENGTH) return `must be at most ${MAX_EVENT_NAME_LENGTH} characters`;
  return nameCharactersProblem(name);
}

/** Why `text` has characters no event name may have (whatever its length), or undefined. */
export function nameCharactersProblem(text: string): string | undefined {
  if (CONTROL.test(text)) return 'must not contain control characters';
  // A lone surrogate cannot be stored as UTF-8 nor put in a URL: the name could never be read back.
  if (LONE_SURROGATE.test(text)) return 'must be well-formed Unicode';
  return undefined;
}
