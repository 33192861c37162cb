import { describe, expect, it } from 'vitest';
import { createMemoryLogger } from './logger.js';
import { createClosers } from './service-main.js';

describe('createClosers', () => {
  it('closes newest first, once, and goes on past a failing step, logging it', async () => {
    const { logger, records } = createMemoryLogger();
    const closers = createClosers(logger, 'test service');
    const order: string[] = [];
    closers.add(() => {
      order.push('stores');
    });
    closers.add(() => Promise.reject(new Error('bus gone')));
    closers.add(() => {
      order.push('http');
      return Promise.resolve();
    });
    await closers.closeAll();
    await closers.closeAll();
    expect(order).toEqual(['http', 'stores']);
    expect(JSON.stringify(records)).toContain('test service shutdown step failed');
    expect(JSON.stringify(records)).toContain('bus gone');
  });
});
