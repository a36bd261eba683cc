"""The Matrix adapter (matrix-nio): commands, replies, cards, polls, encrypted rooms."""
