/**
 * End-user identity: `Authorization: Bearer <JWT>`, verified with jose (HS256). `sub` is the user.
 * No header: anonymous. A header that does not verify: refused (401), never silently anonymous.
 */
import { SignJWT, jwtVerify } from 'jose';
import { TributaryError } from './errors.js';

export interface User {
  readonly id: string;
}

export class UnauthenticatedError extends TributaryError {
  constructor(message = 'The bearer token is not valid.') {
    super('UNAUTHENTICATED', message, { extensions: { http: { status: 401 } } });
    this.name = 'UnauthenticatedError';
  }
}

const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * @example
 * const authenticate = createAuthenticator({ secret: process.env.JWT_SECRET! });
 * const user = await authenticate(request.headers.get('authorization'));
 */
export function createAuthenticator(opts: { secret: string }): (authorization: string | null | undefined) => Promise<User | null> {
  const key = new TextEncoder().encode(opts.secret);
  return async (authorization) => {
    if (!authorization) return null;
    const m = /^Bearer\s+([A-Za-z0-9_.-]+)$/i.exec(authorization.trim());
    if (!m) throw new UnauthenticatedError('The Authorization header must be "Bearer <JWT>".');
    try {
      const { payload } = await jwtVerify(m[1]!, key, { algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string' || !USER_ID.test(payload.sub)) throw new UnauthenticatedError('The token has no usable subject.');
      return { id: payload.sub };
    } catch (e) {
      if (e instanceof UnauthenticatedError) throw e;
      throw new UnauthenticatedError();
    }
  };
}

/** A token for a user, signed with the gateway's secret (development and tests). */
export function signUserToken(secret: string, userId: string, expiresIn = '30d'): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}
