/**
 * Checks a request's SigV4 `Authorization` header as S3 does, written from the AWS
 * reference ("Signature Calculations for the Authorization Header", Amazon S3 API
 * Reference: sig-v4-header-based-auth), independently of the SDK's signer, so a fake that
 * uses it refuses what S3 would refuse. The payload hash is the request's
 * `x-amz-content-sha256`, as S3 takes it; the body is not hashed again.
 */
import { createHash, createHmac } from "crypto";
import type { IncomingHttpHeaders } from "http";

/** RFC 3986 encoding, as the canonical query string wants it. */
function strictEncode(s: string): string {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

function canonicalQuery(search: string): string {
  return [...new URLSearchParams(search)]
    .map(([k, v]) => `${strictEncode(k)}=${strictEncode(v)}`)
    .sort()
    .join("&");
}

function headerValue(headers: IncomingHttpHeaders, name: string): string {
  const v = headers[name];
  return (Array.isArray(v) ? v.join(",") : (v ?? "")).trim().replace(/ +/g, " ");
}

/** Why the signature is wrong, or `undefined` when it is what `secret` gives. */
export function sigV4Problem(
  method: string,
  rawUrl: string,
  headers: IncomingHttpHeaders,
  secret: string,
): string | undefined {
  const auth =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
      headerValue(headers, "authorization"),
    );
  if (auth === null) {
    return "no SigV4 Authorization header";
  }
  const [, , day, region, service, signedHeaders, signature] = auth;
  const amzDate = headerValue(headers, "x-amz-date");
  const payloadHash = headerValue(headers, "x-amz-content-sha256");
  if (!amzDate.startsWith(day) || payloadHash === "") {
    return "x-amz-date or x-amz-content-sha256 missing or not the credential's day";
  }
  const names = signedHeaders.split(";");
  const [pathPart, search = ""] = rawUrl.split(/\?(.*)/s);
  const canonicalRequest = [
    method,
    pathPart,
    canonicalQuery(search),
    names.map((n) => `${n}:${headerValue(headers, n)}\n`).join(""),
    signedHeaders,
    payloadHash,
  ].join("\n");
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = [
    "AWS4-HMAC-SHA256",
    amzDate,
    scope,
    createHash("sha256").update(canonicalRequest).digest("hex"),
  ].join("\n");
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), "aws4_request");
  return hmac(key, stringToSign).toString("hex") === signature
    ? undefined
    : "SignatureDoesNotMatch";
}
