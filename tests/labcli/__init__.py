"""Issue 5: the lab and verify --live through the CLI."""
