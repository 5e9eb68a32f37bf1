"""Getting messages out: the outbox, the WeChat API client and the worker."""
