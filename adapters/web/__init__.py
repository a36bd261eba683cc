"""The public board: a read-only web view of each community, live, with feeds."""
