/**
 * Defaults shown in `--help`, kept apart from the commands so the CLI can describe every
 * command while loading only the one it runs.
 */

/** Seconds between polls of jobs:watch: job states change on the scale of tens of seconds. */
export const DEFAULT_WATCH_INTERVAL = 10;

/** Parallel downloads of jobs:results: S3 serves many connections well; 16 keeps a laptop link busy. */
export const DEFAULT_DOWNLOAD_CONCURRENCY = 16;

/** The reason Batch records for jobs:cancel. */
export const DEFAULT_CANCEL_REASON = "Cancelled with batchpy jobs:cancel";
