"""Entry point of the Matrix adapter (`commons_bot.adapters: matrix`)."""

from adapters.matrix.adapter import MatrixAdapter

plugin = MatrixAdapter
