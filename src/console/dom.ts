/** The element with this id, of this type; throws if the page lacks it. */
export function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`#${id} is missing or not a ${type.name}`);
  return element;
}

/** A new element with text content and attributes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  attributes: Record<string, string> = {},
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (text !== undefined) element.textContent = text;
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  return element;
}

/** Compact JSON, cut to `max` characters. */
export function preview(data: unknown, max = 160): string {
  const text = JSON.stringify(data) ?? String(data);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** 2025-11-28 07:30:05 in local time. */
export function formatDateTime(date: Date): string {
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** 07:30:05.123 in local time. */
export function formatTime(date: Date): string {
  return `${formatDateTime(date).slice(11)}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/** The value of a datetime-local input for this date (local time, whole seconds). */
export function toDateTimeLocal(date: Date): string {
  return formatDateTime(date).replace(' ', 'T');
}

/** "in 1 min 05 s", "in 9 s", "due". */
export function countdown(ms: number): string {
  if (ms <= 0) return 'due';
  const total = Math.ceil(ms / 1000);
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (days > 0) return `in ${days} d ${hours} h`;
  if (hours > 0) return `in ${hours} h ${String(minutes).padStart(2, '0')} min`;
  if (minutes > 0) return `in ${minutes} min ${String(seconds).padStart(2, '0')} s`;
  return `in ${seconds} s`;
}

/** A short human text for an error. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
