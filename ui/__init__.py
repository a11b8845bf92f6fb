"""What the pages share (a page folder, like ``pages/``): session helpers, the case panel, chart and wall views."""
