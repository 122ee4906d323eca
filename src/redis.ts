/**
 * The one way the gateway connects to Redis (the shared cache, shared rate limits): commands fail
 * fast while disconnected instead of queueing, the client reconnects by itself forever, and a broken
 * connection is never an unhandled error. Callers treat a failed command as "Redis unavailable".
 */
import { createClient } from '@redis/client';

/** The client, configured, not yet connecting. */
function connect(url: string) {
  const client = createClient({
    url,
    // Fail fast while disconnected instead of queueing commands until Redis returns.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 1_000, // ms
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1_000), // ms between attempts, forever
    },
  });
  client.on('error', () => {});
  return client;
}

export type RedisClient = ReturnType<typeof connect>;

/** A client connecting in the background; `connected` settles (never rejects) after the first attempt. */
export function redisClient(url: string): { client: RedisClient; connected: Promise<void> } {
  const client = connect(url);
  const connected = client.connect().then(
    () => undefined,
    () => undefined,
  );
  return { client, connected };
}
