"""The queue-services server: HTTP intake, the job store in Redis, and the CLI."""
