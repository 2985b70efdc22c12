import type { User } from '../store/store.js';

/** A user as GET /me answers: never the password hash. */
export interface MeView {
  readonly id: string;
  readonly username: string;
  readonly info: unknown;
  readonly roles: readonly string[];
}

/** A user as the admin API answers. */
export interface UserView extends MeView {
  readonly disabled: boolean;
  /** Epoch seconds. */
  readonly created_at: number;
}

export function toMeView(u: User): MeView {
  return { id: u.id, username: u.username, info: JSON.parse(u.info) as unknown, roles: u.roles };
}

export function toUserView(u: User): UserView {
  return { ...toMeView(u), disabled: u.disabled, created_at: u.createdAt };
}
