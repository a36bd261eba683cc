"""The console adapter: the whole commons loop in a terminal."""
