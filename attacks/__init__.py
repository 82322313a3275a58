"""The shared labelled corpus, mutators, the replay harness, oracles and the report."""
