/**
 * gRPC and protobuf runtime, loaded from where `@pulumi/pulumi` loads them: the message
 * classes in `@pulumi/pulumi/proto` check `instanceof` against *their* copies of
 * `google-protobuf` and `@grpc/grpc-js`, so the check tool must use the same ones.
 */
import { createRequire } from "module";
import type * as GrpcJs from "@grpc/grpc-js";
import type * as EmptyPb from "google-protobuf/google/protobuf/empty_pb";
import type * as StructPb from "google-protobuf/google/protobuf/struct_pb";

const fromPulumi = createRequire(require.resolve("@pulumi/pulumi/package.json"));

export const grpc = fromPulumi("@grpc/grpc-js") as typeof GrpcJs;
export const { Struct } = fromPulumi(
  "google-protobuf/google/protobuf/struct_pb",
) as typeof StructPb;
export const { Empty } = fromPulumi("google-protobuf/google/protobuf/empty_pb") as typeof EmptyPb;
export type Struct = StructPb.Struct;
