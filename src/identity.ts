/**
 * End-user identity: `Authorization: Bearer <JWT>`, verified with jose: HS256 with a shared secret,
 * and/or asymmetric keys (RS256, PS256, ES256, EdDSA) from a JWKS URL (`JWKS_URL`; keys fetched and
 * cached by jose, refetched for an unknown `kid`). `sub` is the user. No header: anonymous. A header
 * that does not verify: refused (401), never silently anonymous.
 */
import { SignJWT, createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
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

/** Algorithms accepted from a JWKS (never `none`, never HS* with a public key). */
const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/**
 * @example
 * const authenticate = createAuthenticator({ secret: process.env.JWT_SECRET! });
 * const user = await authenticate(request.headers.get('authorization'));
 */
export function createAuthenticator(opts: {
  /** HS256 secret; omit to accept only JWKS-signed tokens. */
  secret?: string | undefined;
  /** A JWKS document's URL: tokens signed with its keys are accepted. */
  jwksUrl?: string | undefined;
  /** Required `iss` and `aud` claims, when set. */
  issuer?: string | undefined;
  audience?: string | undefined;
}): (authorization: string | null | undefined) => Promise<User | null> {
  const key = opts.secret ? new TextEncoder().encode(opts.secret) : undefined;
  const jwks = opts.jwksUrl ? createRemoteJWKSet(new URL(opts.jwksUrl), { timeoutDuration: 2_000, cooldownDuration: 30_000 }) : undefined;
  const claims = { ...(opts.issuer ? { issuer: opts.issuer } : {}), ...(opts.audience ? { audience: opts.audience } : {}) };
  const verify = async (token: string): Promise<JWTPayload> => {
    const alg = decodeProtectedHeader(token).alg;
    if (alg === 'HS256') {
      if (!key) throw new UnauthenticatedError();
      return (await jwtVerify(token, key, { algorithms: ['HS256'], ...claims })).payload;
    }
    if (!jwks) throw new UnauthenticatedError();
    return (await jwtVerify(token, jwks, { algorithms: ASYMMETRIC_ALGORITHMS, ...claims })).payload;
  };
  return async (authorization) => {
    if (!authorization) return null;
    const m = /^Bearer\s+([A-Za-z0-9_.-]+)$/i.exec(authorization.trim());
    if (!m) throw new UnauthenticatedError('The Authorization header must be "Bearer <JWT>".');
    try {
      const payload = await verify(m[1]!);
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
