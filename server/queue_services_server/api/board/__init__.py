"""The operator board at /admin/queues: queues by state, jobs, actions, charts, workspaces."""
