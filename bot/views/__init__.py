"""Read models of the public record, above the store: what the public board's pages show
(`board`, `books`) and the exports (`export`), with the phrases and amounts members read."""
