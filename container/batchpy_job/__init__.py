"""batchpy's job entrypoint: run_job.py (next to this package) is the command."""
