"""The deliberately vulnerable reference lab. Never deploy it: it is vulnerable by design."""
