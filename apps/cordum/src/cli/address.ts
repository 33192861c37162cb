import { InvalidError } from '@cordum/core';

/** Where a server listens. Port 0 picks a free port (tests); the bound port is reported at start. */
export type ListenAddress = { readonly host: string; readonly port: number };

/** Host used when an address gives only a port: cordum dev serves localhost unless told otherwise. */
export const DEFAULT_DEV_HOST = '127.0.0.1';

/**
 * Parses `host:port`, `[v6]:port`, `:port` (every interface, as the services read their *_ADDR variables) or a
 * bare `port` (localhost). Throws InvalidError naming the flag.
 */
export function parseListenAddress(text: string, flag: string): ListenAddress {
  const t = text.trim();
  let host: string;
  let portText: string;
  const v6 = /^\[([^\]]+)\]:([^:]*)$/.exec(t);
  if (v6 !== null) {
    host = v6[1] ?? '';
    portText = v6[2] ?? '';
  } else if (/^\d+$/.test(t)) {
    host = DEFAULT_DEV_HOST;
    portText = t;
  } else {
    const at = t.lastIndexOf(':');
    if (at < 0 || t.indexOf(':') !== at) {
      throw new InvalidError(`${flag} must be host:port, :port or port, got ${JSON.stringify(text)}`, { code: 'invalid_argument' });
    }
    host = at === 0 ? '0.0.0.0' : t.slice(0, at);
    portText = t.slice(at + 1);
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidError(`${flag}: port must be 0-65535, got ${JSON.stringify(portText)}`, { code: 'invalid_argument' });
  }
  if (host === '' || /\s/.test(host)) {
    throw new InvalidError(`${flag}: missing or malformed host in ${JSON.stringify(text)}`, { code: 'invalid_argument' });
  }
  return { host, port };
}

/** `host:port` for binding (`[v6]:port` for IPv6 hosts). */
export function formatAddress(address: ListenAddress, port = address.port): string {
  return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${port}`;
}

/** The host a client on this machine uses to reach a server bound to `host` (wildcards become loopback). */
export function reachableHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

/** `scheme://host:port` a user can paste (wildcard binds shown as loopback). */
export function urlOf(scheme: string, address: ListenAddress, port: number, path = ''): string {
  return `${scheme}://${formatAddress({ host: reachableHost(address.host), port })}${path}`;
}
