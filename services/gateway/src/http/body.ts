import { InvalidError } from '@cordum/core';

/**
 * The body of a route that has required fields. Bodies are validated only when present (app.ts lets an
 * absent body through, for routes whose fields are all optional), so such a route says here what is missing.
 */
export function requiredBody<T>(body: T | null | undefined, firstRequired: string): T {
  if (body === undefined || body === null) {
    throw new InvalidError(`body: missing required field ${JSON.stringify(firstRequired)} (send a JSON body)`, {
      details: { location: 'body', errors: [{ path: 'body', message: `missing required field ${JSON.stringify(firstRequired)}` }] },
    });
  }
  return body;
}
