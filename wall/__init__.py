"""The map wall's screen model: the wall frame, deck.gl JSON, colours and labels, the dispatch map."""
