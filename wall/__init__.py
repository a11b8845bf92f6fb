"""The map wall's screen model: the component's payload, the server-coloured pydeck frame (bench wall's baseline), colours, labels, the dispatch map, the click contract."""
