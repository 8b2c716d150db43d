/**
 * A local CloudWatch Logs endpoint speaking the awsJson1_1 wire protocol (POST / with
 * `X-Amz-Target: Logs_20140328.<Operation>`):
 * - GetLogEvents, with AWS's paging rule: at the end of a stream the same forward token
 *   comes back;
 * - FilterLogEvents over a group's streams in timestamp order, within startTime..endTime,
 *   with the filter patterns the tool sends (one term, bare or in double quotes: the events
 *   that contain it) and pages of `filterPageSize` events. AWS may answer with empty pages
 *   before the last one; `emptyFilterPages` makes the fake do so.
 */
import * as http from "http";
import {
  closeServer,
  listenOnLoopback,
  jsonProtocol,
  unknownOperation,
  type JsonReply,
} from "./http-server";

export interface FakeLogEvent {
  readonly timestamp: number;
  readonly message: string;
}

export class FakeCloudWatchLogs {
  readonly requests: { target: string; body: Record<string, unknown> }[] = [];
  /** Events per FilterLogEvents page (AWS: up to 10,000, or 1 MB). */
  filterPageSize = 10_000;
  /** Empty pages, each with a token, that FilterLogEvents gives before any event. */
  emptyFilterPages = 0;
  /** An error FilterLogEvents answers with instead (e.g. AccessDeniedException). */
  filterError: string | undefined;
  private readonly streams = new Map<string, FakeLogEvent[]>();
  private readonly groups = new Set<string>();
  private readonly server: http.Server;
  private readonly pageSize: number;
  url = "";

  private constructor(pageSize: number) {
    this.pageSize = pageSize;
    this.server = http.createServer(jsonProtocol((target, body) => this.answer(target, body)));
  }

  /** `pageSize` small in tests, to prove the client follows tokens. */
  static async start(pageSize = 3): Promise<FakeCloudWatchLogs> {
    const fake = new FakeCloudWatchLogs(pageSize);
    fake.url = await listenOnLoopback(fake.server);
    return fake;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  /** A group with no stream yet, as a stack's group is before its first job. */
  createLogGroup(group: string): void {
    this.groups.add(group);
  }

  /** Appends lines to a stream (created on first use), stamped `at` (default: now) onwards. */
  put(group: string, stream: string, messages: readonly string[], at = Date.now()): void {
    this.groups.add(group);
    const key = `${group}\0${stream}`;
    const events = this.streams.get(key) ?? [];
    messages.forEach((message, i) => events.push({ timestamp: at + i, message }));
    this.streams.set(key, events);
  }

  /** FilterLogEvents' answer: [status, payload, error type]. */
  private filter(body: Record<string, unknown>): JsonReply {
    if (this.filterError !== undefined) {
      return [400, { __type: this.filterError, message: "refused by the fake" }, this.filterError];
    }
    const pattern = typeof body.filterPattern === "string" ? body.filterPattern : "";
    const quoted = /^"([^"]*)"$/.exec(pattern);
    const term = quoted?.[1] ?? pattern;
    if (quoted === null && /[\s"{}[\]?]/.test(term)) {
      return [400, { __type: "InvalidParameterException", message: "pattern not in the fake" }];
    }
    if (!this.groups.has(String(body.logGroupName))) {
      const message = "The specified log group does not exist.";
      return [400, { __type: "ResourceNotFoundException", message }, "ResourceNotFoundException"];
    }
    const prefix = `${String(body.logGroupName)}\0`;
    const streams = [...this.streams].filter(([k]) => k.startsWith(prefix));
    const from = typeof body.startTime === "number" ? body.startTime : -Infinity;
    const to = typeof body.endTime === "number" ? body.endTime : Infinity;
    const matched = streams
      .flatMap(([k, events]) =>
        events.map((e) => ({ ...e, logStreamName: k.slice(prefix.length) })),
      )
      .filter((e) => e.timestamp >= from && e.timestamp <= to && e.message.includes(term))
      .sort((a, b) => a.timestamp - b.timestamp);
    const token = typeof body.nextToken === "string" ? body.nextToken : "e/0";
    const at = Number(token.slice(2));
    if (token.startsWith("e/") && at < this.emptyFilterPages) {
      return [200, { events: [], nextToken: `e/${at + 1}` }];
    }
    const start = token.startsWith("e/") ? 0 : at;
    const page = matched.slice(start, start + this.filterPageSize);
    const end = start + page.length;
    return [200, { events: page, ...(end < matched.length ? { nextToken: `i/${end}` } : {}) }];
  }

  private answer(target: string, body: Record<string, unknown>): JsonReply {
    this.requests.push({ target, body });
    if (target === "Logs_20140328.FilterLogEvents") {
      return this.filter(body);
    }
    if (target !== "Logs_20140328.GetLogEvents") {
      return unknownOperation(target);
    }
    const events = this.streams.get(`${String(body.logGroupName)}\0${String(body.logStreamName)}`);
    if (events === undefined) {
      const type = "ResourceNotFoundException";
      return [400, { __type: type, message: "The specified log stream does not exist." }, type];
    }
    const token = typeof body.nextToken === "string" ? body.nextToken : "f/0";
    const start = Number(token.slice(2));
    const page = events.slice(start, start + this.pageSize);
    return [
      200,
      {
        events: page.map((e) => ({ ...e, ingestionTime: e.timestamp })),
        nextForwardToken: `f/${start + page.length}`,
        nextBackwardToken: `b/${start}`,
      },
    ];
  }
}
