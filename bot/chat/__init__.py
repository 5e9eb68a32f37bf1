"""The conversation layer: the message and context a handler sees, the
dispatcher that routes it, and the filters handlers declare."""
