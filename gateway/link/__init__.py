"""The link layer: channels, flow control, cover traffic, rate limits and the outbox."""
