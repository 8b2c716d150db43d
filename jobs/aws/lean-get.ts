/**
 * GetObject for many small objects (a sweep's metrics.json files, one per child), without
 * the SDK's per-command pipeline. Each `send()` builds the command's middleware stack,
 * serializes from the operation's schema and resolves the endpoint from S3's rule set, most of
 * a 10,000-child report's time when each metrics file is a GetObject. This path keeps what
 * matters from the same S3 client:
 * - the endpoint, resolved once per bucket by the SDK's own resolver. The key is not part
 *   of it: the client's endpoint cache is keyed by bucket, region and the endpoint
 *   settings, never the key (`EndpointCache` in @aws-sdk/client-s3);
 * - the credentials provider, the region, the clock offset the SDK learned from S3, and
 *   the HTTP handler with its connection pool and timeouts;
 * - SigV4 from the SDK's own signer, with S3's settings (no double encoding of the path,
 *   an `x-amz-content-sha256` header);
 * - the stored checksum: like the SDK, it asks for the object's checksum and compares the
 *   CRC32 (what boto3 and the AWS CLI store by default).
 *
 * Anything else gives `undefined`, and the caller does a full GetObject, which brings the
 * SDK's retries, error parsing and the rest: an endpoint with another auth scheme (S3
 * Express), a status other than 200 (a wrong region's redirect, throttling, a missing key),
 * a checksum it cannot check, a body shorter than its length, a network error.
 */
import * as zlib from "zlib";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getEndpointFromInstructions } from "@smithy/core/endpoints";
import { HttpRequest, escapeUriPath } from "@smithy/core/protocols";
import { SignatureV4 } from "@smithy/signature-v4";
import type { HttpResponse } from "@smithy/types";

/** One small object's body as UTF-8, or `undefined` when only a full GetObject can say. */
export type LeanGet = (key: string) => Promise<string | undefined>;

const CHECKSUM_HEADERS = [
  "x-amz-checksum-crc32",
  "x-amz-checksum-crc32c",
  "x-amz-checksum-crc64nvme",
  "x-amz-checksum-sha1",
  "x-amz-checksum-sha256",
];

/** zlib.crc32 arrived in Node 20.15; on older 20.x every read takes the SDK's path. */
const crc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

/**
 * Whether `body` matches the checksum S3 sent. `undefined` when S3 sent one this path does
 * not compute: the SDK's GetObject checks those. A composite checksum of a multipart upload
 * ("…-3") covers parts, not the object, and the SDK skips it too.
 */
export function checksumMatches(
  headers: Readonly<Record<string, string>>,
  body: Uint8Array,
): boolean | undefined {
  if (!CHECKSUM_HEADERS.some((h) => headers[h] !== undefined)) {
    return true;
  }
  const value = headers["x-amz-checksum-crc32"];
  if (value === undefined || crc32 === undefined) {
    return undefined;
  }
  if (/-\d+$/.test(value)) {
    return true;
  }
  const expected = Buffer.alloc(4);
  expected.writeUInt32BE(crc32(body) >>> 0);
  return expected.toString("base64") === value;
}

/** Header names lower-cased, as S3's are case-insensitive. */
function lowerHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

/**
 * A reader for `bucket` through `client`, or `undefined` when the bucket's endpoint does
 * not use plain SigV4 (every read then takes the SDK's path).
 */
export async function leanGetter(client: S3Client, bucket: string): Promise<LeanGet | undefined> {
  const config = client.config;
  const endpoint = await getEndpointFromInstructions(
    { Bucket: bucket, Key: "k" },
    GetObjectCommand,
    config,
  );
  const scheme = (
    endpoint.properties?.authSchemes as
      { name?: string; signingName?: string; signingRegion?: string }[] | undefined
  )?.[0];
  if (scheme !== undefined && scheme.name !== "sigv4") {
    return undefined;
  }
  const signer = new SignatureV4({
    service: scheme?.signingName ?? "s3",
    region: scheme?.signingRegion ?? (await config.region()),
    credentials: config.credentials,
    sha256: config.sha256,
    uriEscapePath: false,
    applyChecksum: true,
  });
  const url = endpoint.url;
  const base = url.pathname.replace(/\/$/, "");
  return async (key) => {
    const request = new HttpRequest({
      method: "GET",
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port !== "" ? { port: Number(url.port) } : {}),
      // The key as GetObject's greedy label `/{Key+}`: each segment escaped, slashes kept.
      path: `${base}/${escapeUriPath(key)}`,
      headers: {
        host: url.host,
        ...(crc32 !== undefined ? { "x-amz-checksum-mode": "ENABLED" } : {}),
      },
    });
    try {
      const signed = await signer.sign(request, {
        signingDate: new Date(Date.now() + config.systemClockOffset),
      });
      const { response } = (await config.requestHandler.handle(signed as HttpRequest)) as {
        response: HttpResponse;
      };
      const bytes = await config.streamCollector(response.body);
      const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const headers = lowerHeaders(response.headers);
      const length = headers["content-length"];
      const whole = length === undefined || Number(length) === body.length;
      return response.statusCode === 200 && whole && checksumMatches(headers, body) === true
        ? body.toString("utf8")
        : undefined;
    } catch {
      return undefined;
    }
  };
}
