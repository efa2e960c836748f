"""HTTP plumbing shared by the REST backends: rate limit, retries, pausing, streamed uploads."""
