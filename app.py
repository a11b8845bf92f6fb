"""Grid governance command platform: the entry script (``streamlit run app.py``).

The frame — page config, login, language, role-based navigation — is ``ui.frame.main``; pages
live in ``pages/`` and are listed in ``ui.frame.PAGES``. See docs/architecture.md.
"""
from ui.frame import main

main()
