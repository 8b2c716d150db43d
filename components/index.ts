export * from "./compute-environment";
export * from "./image";
export * from "./job-definition";
export * from "./job-queue";
export * from "./job-roles";
export * from "./notifications";
export * from "./storage";
