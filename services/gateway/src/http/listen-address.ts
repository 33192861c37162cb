// Listen addresses are host:port as in upstream (":8081" = every interface, "[::1]:8081" for IPv6).

export type ListenAddress = { host: string; port: number };

export function parseListenAddress(addr: string): ListenAddress {
  const at = addr.lastIndexOf(':');
  if (at < 0) throw new Error(`must be host:port or :port, got ${JSON.stringify(addr)}`);
  let host = addr.slice(0, at);
  const portText = addr.slice(at + 1);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65_535) {
    throw new Error(`has no valid port, got ${JSON.stringify(addr)}`);
  }
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host: host === '' ? '0.0.0.0' : host, port: Number(portText) };
}

/** True when only this machine can reach the address (where open mode is allowed). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}
