/** Starting and stopping the tests' local HTTP servers, on loopback only. */
import type * as http from "http";
import type { AddressInfo } from "net";

/**
 * How long a server keeps an idle connection, as AWS endpoints do (for well over seconds).
 * Node's agent reuses a socket only if the server's `Keep-Alive: timeout=N` leaves it more
 * than a second, so a 1 s timeout here made every request open a new connection: a cost the
 * tool never pays against AWS. closeServer() still closes kept connections at once.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 5000;

/** Listens on 127.0.0.1 at a free port; resolves to the server's base URL. */
export function listenOnLoopback(server: http.Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
  });
}

/** Closes the server and every connection a client kept alive, so mocha can exit. */
export function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
}
