// Which browser origins may call the API: the CORS plugin and the WebSocket upgrade (which CORS does not cover)
// apply the same rule.

/** http(s) pages served from this machine (the default allowlist). */
export function isLocalOrigin(origin: string): boolean {
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  } catch {
    return false;
  }
}

/** `allowed` is CORDUM_ALLOWED_ORIGINS: empty = local origins only, `*` = any. */
export function isAllowedOrigin(origin: string, allowed: readonly string[]): boolean {
  if (allowed.includes('*')) return true;
  return allowed.length === 0 ? isLocalOrigin(origin) : allowed.includes(origin);
}
