/** Starting and stopping the tests' local HTTP servers, on loopback only. */
import { randomUUID } from "crypto";
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

/** An AWS JSON 1.1 answer: HTTP status, body, and for an error its type. */
export type JsonReply = readonly [status: number, payload: unknown, errorType?: string];

/**
 * A request listener for an AWS JSON 1.1 service (`X-Amz-Target` names the operation): reads
 * the body, asks `answer`, and writes the reply with the headers the SDK reads.
 */
export function jsonProtocol(
  answer: (target: string, body: Record<string, unknown>) => JsonReply,
): http.RequestListener {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const target = String(req.headers["x-amz-target"] ?? "");
      const text = Buffer.concat(chunks).toString("utf8") || "{}";
      const [status, payload, errorType] = answer(target, JSON.parse(text));
      res.writeHead(status, {
        "content-type": "application/x-amz-json-1.1",
        "x-amzn-requestid": randomUUID(),
        ...(errorType !== undefined ? { "x-amzn-errortype": errorType } : {}),
      });
      res.end(JSON.stringify(payload));
    });
  };
}

/** The answer to an operation a fake does not speak. */
export function unknownOperation(target: string): JsonReply {
  const type = "UnknownOperationException";
  return [400, { __type: type, message: `${target} is not supported` }, type];
}
