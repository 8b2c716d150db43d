/**
 * S3 for tests: s3rver on 127.0.0.1 with a fresh data folder and one bucket. It knows the
 * key pair S3RVER/S3RVER, so tests use those credentials; it checks the access key ID of a
 * SigV4 request but not its signature (MemoryS3 checks signatures).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import S3rver from "s3rver";

export const S3RVER_KEY = "S3RVER";

export class FakeS3 {
  private constructor(
    private readonly server: S3rver,
    readonly dir: string,
    readonly url: string,
    readonly bucket: string,
  ) {}

  static async start(bucket = "batchpy-test-bucket"): Promise<FakeS3> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jobs-s3rver-"));
    const server = new S3rver({
      address: "127.0.0.1",
      port: 0,
      silent: true,
      directory: dir,
      configureBuckets: [{ name: bucket, configs: [] }],
    });
    const info = await server.run();
    return new FakeS3(server, dir, `http://127.0.0.1:${info.port}`, bucket);
  }

  async close(): Promise<void> {
    await this.server.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
