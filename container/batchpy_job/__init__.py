"""batchpy's job entrypoint: run_job.py (next to this package) is the command, job.py its
command line and main flow."""
