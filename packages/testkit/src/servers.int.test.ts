import { createConnection } from 'node:net';
import { describe, expect, it } from 'vitest';
import { findBinary, startNats, startRedis } from './index.js';

function exchange(port: number, send: string, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let data = '';
    socket.on('data', (chunk) => {
      data += chunk.toString();
      if (until.test(data)) {
        socket.destroy();
        resolve(data);
      }
    });
    socket.on('error', reject);
    if (send !== '') socket.write(send);
  });
}

describe('testkit servers', () => {
  it('starts redis-server on a free port and stops it', async () => {
    const redis = await startRedis();
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await exchange(redis.port, 'PING\r\n', /PONG/)).toContain('+PONG');
    await redis.stop();
    await expect(exchange(redis.port, 'PING\r\n', /PONG/)).rejects.toThrow();
  });

  it('starts two independent servers at once', async () => {
    const [a, b] = await Promise.all([startRedis(), startRedis()]);
    expect(a.port).not.toBe(b.port);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('starts nats-server with JetStream and restarts it on the same port', async () => {
    const nats = await startNats();
    const info = await exchange(nats.port, '', /INFO .*\r\n/);
    expect(info).toMatch(/"jetstream":true/);
    await nats.restart();
    expect(await exchange(nats.port, '', /INFO .*\r\n/)).toMatch(/"jetstream":true/);
    await nats.stop();
  });

  it('honours an explicit binary path and rejects a bad one', () => {
    const real = findBinary('redis-server');
    expect(findBinary('redis-server', 'redis-server', real)).toBe(real);
    expect(() => findBinary('redis-server', 'redis-server', '/nonexistent/redis-server')).toThrow(
      /override \/nonexistent\/redis-server is not an executable file/,
    );
  });

  it('names the Debian package when a binary is missing', () => {
    expect(() => findBinary('cordum-no-such-server', 'cordum-pkg')).toThrow(
      /cordum-no-such-server is not installed.*apt-get install -y cordum-pkg/,
    );
  });
});
