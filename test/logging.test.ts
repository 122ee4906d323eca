/** The logger's redaction of anything that looks like a credential (src/logging.ts). */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CENSOR, createLogger, redactSecrets } from '../src/logging.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({ write: (c, _e, cb) => (lines.push(...String(c).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)), cb()) });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

describe('log redaction', () => {
  it('censors secrets at the top, one level down, and in headers at either level', () => {
    const { logger, lines } = capture();
    const obj = {
      authorization: 'Bearer top',
      password: 'p',
      token: 't',
      secret: 's',
      headers: { authorization: 'Bearer h', 'x-api-key': 'k', accept: 'application/json' },
      upstream: { token: 't2', password: 'p2', name: 'pricing', headers: { authorization: 'Bearer deep', 'x-api-key': 'k2', 'x-request-id': 'r' } },
      list: ['authorization'],
      requestId: 'abc',
    };
    const before = JSON.stringify(obj);
    logger.info(obj, 'with secrets');
    logger.flush();
    expect(lines[0]).toMatchObject({
      msg: 'with secrets',
      authorization: CENSOR,
      password: CENSOR,
      token: CENSOR,
      secret: CENSOR,
      headers: { authorization: CENSOR, 'x-api-key': CENSOR, accept: 'application/json' },
      upstream: { token: CENSOR, password: CENSOR, name: 'pricing', headers: { authorization: CENSOR, 'x-api-key': CENSOR, 'x-request-id': 'r' } },
      list: ['authorization'],
      requestId: 'abc',
    });
    expect(JSON.stringify(lines[0])).not.toMatch(/Bearer|"k2?"|"[pts]2?"/);
    // The caller's object is untouched.
    expect(JSON.stringify(obj)).toBe(before);
  });

  it('passes a line without secrets through as the same object', () => {
    const line = { requestId: 'r', operation: 'CategoryPage', upstream: { 'catalog.categories': '200/5ms' }, errors: ['UPSTREAM_TIMEOUT'] };
    expect(redactSecrets(line)).toBe(line);
    expect(redactSecrets({ a: { b: { token: 'deeper than two levels is not a credential field' } } })).toEqual({ a: { b: { token: 'deeper than two levels is not a credential field' } } });
  });
});
