"""The map wall's screen model: the wall frame, deck.gl JSON, colours, labels, the dispatch map, the click contract."""
