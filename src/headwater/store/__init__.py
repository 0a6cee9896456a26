"""The metadata store: pipelines, runs, task instances and their tries."""
