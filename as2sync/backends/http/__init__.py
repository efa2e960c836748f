"""HTTP plumbing shared by the REST backends: the request pipeline (rest), rate limit, retries,
pausing, streamed uploads and downloads."""
