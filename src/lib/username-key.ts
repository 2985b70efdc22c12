/** Case-insensitive identity of a username: two names differing only in letter case are one. */
export function usernameKey(username: string): string {
  return username.normalize('NFC').toLowerCase();
}
