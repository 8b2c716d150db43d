/**
 * A fast in-memory S3 on 127.0.0.1 for benchmarks of the tool's reads: PutObject, GetObject
 * and ListObjectsV2 (prefix, 1,000-key pages, continuation tokens) over path-style URLs,
 * answering with S3's XML. s3rver keeps every object as files with metadata beside them,
 * which costs it several milliseconds per request: a 10,000-object benchmark would measure
 * s3rver, not the tool. SigV4 signatures are checked against the secret the tests use
 * (sigv4-check.ts), as S3 checks them; s3rver checks only the access key ID.
 *
 * PutObject's conditional writes are atomic here, as in S3 (s3rver ignores them, moto checks
 * and writes in two steps): `If-None-Match: *` answers 412 when the key exists, `If-Match`
 * 412 when the ETag differs and 404 when there is no object. Tests inject what S3 can also
 * answer: 409 ConditionalRequestConflict (`conflictNextPuts`), an answer lost after the write
 * (`dropNextPuts`) and 403 on a prefix the caller may not use (`denyPrefix`).
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
 */
import { createHash } from "crypto";
import * as http from "http";
import { KEEP_ALIVE_TIMEOUT_MS, closeServer, listenOnLoopback } from "./http-server";
import { sigV4Problem } from "./sigv4-check";

/** The secret of the tests' key pair (awsEnv in jobs-harness.ts). */
const SECRET = "S3RVER";

const PAGE = 1000;

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Index of the first key >= `from` (or > `from` when `exclusive`), by binary search. */
function firstAfter(sorted: readonly string[], from: string, exclusive: boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < from || (exclusive && sorted[mid] === from)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

function error(res: http.ServerResponse, status: number, code: string): void {
  res.writeHead(status, { "content-type": "application/xml" });
  res.end(`<Error><Code>${code}</Code><Message>${code}</Message></Error>`);
}

export class MemoryS3 {
  readonly objects = new Map<string, { body: Buffer; lastModified: Date; crc32?: string }>();
  /** Answers the next GetObject requests get instead of the object (see `failGets`). */
  private readonly failures: { status: number; code: string }[] = [];
  /** The keys in S3's order (UTF-8 binary, which JavaScript's order matches for BMP keys). */
  private sorted: string[] | undefined;
  readonly requests = new Map<string, number>();
  /** Every request's operation and key (or list prefix), in order. */
  readonly log: { readonly op: string; readonly scope: string }[] = [];
  /** Conditional PutObject requests answered 409 ConditionalRequestConflict. */
  private conflicts = 0;
  /** PutObject requests written and then left unanswered (the connection is destroyed). */
  private drops = 0;
  /** Keys (and list prefixes) under this prefix are answered 403 AccessDenied. */
  private denied: string | undefined;
  /** Delay before every answer, as a distant region would have. */
  latencyMs = 0;
  private readonly server: http.Server;
  url = "";

  private constructor(readonly bucket: string) {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  }

  static async start(bucket: string): Promise<MemoryS3> {
    const s3 = new MemoryS3(bucket);
    s3.url = await listenOnLoopback(s3.server);
    return s3;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  /**
   * `crc32`: the checksum S3 stored at upload (base64), sent back when a GetObject asks with
   * `x-amz-checksum-mode: ENABLED`, as S3 does. A wrong one stands for a damaged object.
   */
  put(key: string, body: string, crc32?: string): void {
    this.store(key, Buffer.from(body), crc32);
  }

  /** The next `count` GetObject requests are answered with S3's error `code` and `status`. */
  failGets(count: number, status: number, code: string): void {
    for (let i = 0; i < count; i++) {
      this.failures.push({ status, code });
    }
  }

  conflictNextPuts(count: number): void {
    this.conflicts += count;
  }

  dropNextPuts(count: number): void {
    this.drops += count;
  }

  denyPrefix(prefix: string | undefined): void {
    this.denied = prefix;
  }

  /** Removes every object under `prefix`. */
  clear(prefix: string): void {
    for (const key of [...this.objects.keys()].filter((k) => k.startsWith(prefix))) {
      this.objects.delete(key);
    }
    this.sorted = undefined;
  }

  /** The quoted ETag S3 gives a one-part upload: the MD5 of the bytes. */
  etag(key: string): string | undefined {
    const o = this.objects.get(key);
    return o && `"${createHash("md5").update(o.body).digest("hex")}"`;
  }

  private store(key: string, body: Buffer, crc32?: string): void {
    if (!this.objects.has(key)) {
      this.sorted = undefined;
    }
    this.objects.set(key, { body, lastModified: new Date(), ...(crc32 ? { crc32 } : {}) });
  }

  private sortedKeys(): string[] {
    return (this.sorted ??= [...this.objects.keys()].sort());
  }

  private count(op: string, scope = ""): void {
    this.requests.set(op, (this.requests.get(op) ?? 0) + 1);
    this.log.push({ op, scope });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (this.latencyMs > 0) {
        setTimeout(() => this.answer(req, res, chunks), this.latencyMs);
      } else {
        this.answer(req, res, chunks);
      }
    });
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse, chunks: Buffer[]): void {
    const url = new URL(req.url ?? "/", "http://localhost");
    const [, bucket, ...rest] = url.pathname.split("/");
    const key = decodeURIComponent(rest.join("/"));
    const problem = sigV4Problem(req.method ?? "", req.url ?? "/", req.headers, SECRET);
    if (problem !== undefined) {
      this.count("refused");
      res.writeHead(403, { "content-type": "application/xml" });
      res.end(`<Error><Code>SignatureDoesNotMatch</Code><Message>${problem}</Message></Error>`);
      return;
    }
    if (bucket !== this.bucket) {
      res.writeHead(404, { "content-type": "application/xml" });
      res.end("<Error><Code>NoSuchBucket</Code><Message>no such bucket</Message></Error>");
      return;
    }
    const scope = key !== "" ? key : (url.searchParams.get("prefix") ?? "");
    if (this.denied !== undefined && scope.startsWith(this.denied)) {
      this.count("denied");
      error(res, 403, "AccessDenied");
    } else if (req.method === "PUT" && key !== "") {
      this.count("PutObject", scope);
      this.putObject(key, Buffer.concat(chunks), req, res);
    } else if (req.method === "GET" && key !== "") {
      this.count("GetObject", scope);
      this.getObject(key, req, res);
    } else if (req.method === "GET" && url.searchParams.get("list-type") === "2") {
      this.count("ListObjectsV2", scope);
      this.list(url.searchParams, res);
    } else {
      res.writeHead(405, { "content-type": "application/xml" });
      res.end("<Error><Code>MethodNotAllowed</Code><Message>not in the fake</Message></Error>");
    }
  }

  /** Checks the condition and writes in one step: nothing else runs in between. */
  private putObject(
    key: string,
    body: Buffer,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): void {
    const ifNoneMatch = req.headers["if-none-match"];
    const ifMatch = req.headers["if-match"];
    if (this.conflicts > 0 && (ifNoneMatch !== undefined || ifMatch !== undefined)) {
      this.conflicts--;
      error(res, 409, "ConditionalRequestConflict");
    } else if (ifNoneMatch === "*" && this.objects.has(key)) {
      error(res, 412, "PreconditionFailed");
    } else if (ifMatch !== undefined && !this.objects.has(key)) {
      error(res, 404, "NoSuchKey");
    } else if (ifMatch !== undefined && ifMatch !== this.etag(key)) {
      error(res, 412, "PreconditionFailed");
    } else {
      this.store(key, body);
      if (this.drops > 0) {
        this.drops--;
        res.destroy();
        return;
      }
      res.writeHead(200, { etag: this.etag(key) });
      res.end();
    }
  }

  private getObject(key: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    const o = this.objects.get(key);
    const failure = this.failures.shift();
    if (failure !== undefined || o === undefined) {
      const { status, code } = failure ?? { status: 404, code: "NoSuchKey" };
      res.writeHead(status, { "content-type": "application/xml" });
      res.end(`<Error><Code>${code}</Code><Message>${code}</Message></Error>`);
      return;
    }
    const checksum =
      o.crc32 !== undefined && req.headers["x-amz-checksum-mode"] === "ENABLED"
        ? { "x-amz-checksum-crc32": o.crc32, "x-amz-checksum-type": "FULL_OBJECT" }
        : {};
    res.writeHead(200, {
      "content-length": String(o.body.length),
      etag: this.etag(key),
      "last-modified": o.lastModified.toUTCString(),
      ...checksum,
    });
    res.end(o.body);
  }

  private list(q: URLSearchParams, res: http.ServerResponse): void {
    const prefix = q.get("prefix") ?? "";
    const after = q.get("continuation-token") ?? "";
    // One page from the sorted keys, without sorting or scanning every key per page: a
    // 20-page listing must cost the fake 20 pages' work, not 20 full sorts.
    const sorted = this.sortedKeys();
    const from = firstAfter(sorted, after >= prefix ? after : prefix, after >= prefix);
    const page: string[] = [];
    let i = from;
    for (; i < sorted.length && page.length < PAGE && sorted[i].startsWith(prefix); i++) {
      page.push(sorted[i]);
    }
    const truncated = i < sorted.length && sorted[i].startsWith(prefix);
    const contents = page
      .map((k) => {
        const o = this.objects.get(k) as { body: Buffer; lastModified: Date };
        return (
          `<Contents><Key>${xmlEscape(k)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified>` +
          `<ETag>&quot;${createHash("md5").update(o.body).digest("hex")}&quot;</ETag>` +
          `<Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`
        );
      })
      .join("");
    res.writeHead(200, { "content-type": "application/xml" });
    res.end(
      `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
        `<Name>${this.bucket}</Name><Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${page.length}</KeyCount>` +
        `<MaxKeys>${PAGE}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${contents}` +
        (truncated
          ? `<NextContinuationToken>${xmlEscape(page[page.length - 1])}</NextContinuationToken>`
          : "") +
        `</ListBucketResult>`,
    );
  }
}
