"""Sessions: the pipeline that runs a request through access, consent and policy to the
generator, and streams or records what it makes, watermarked and signed."""
