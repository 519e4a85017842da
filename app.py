"""KPI Narrator's entry point (`streamlit run app.py`): the pages, and their names in the menu.

Each page is listed here with its name in the menu ("Explain a change", not "app"). They live in app_pages/, not
pages/: Streamlit treats a pages/ folder as the old kind of multipage app until the entry script has run once in the
process, so a first visitor who opened /Compare_agents directly got a menu listing "app" and "explain".
"""

import streamlit as st

import agent  # noqa: F401 - its environment defaults (agent.settings) before anything imports numpy or litellm
from ui.server_process import collect_garbage, warm_up_in_background

st.set_page_config(page_title="KPI Narrator", page_icon="📈", layout="wide")
pages = [
    st.Page("app_pages/explain.py", title="Explain a change", icon="📈", default=True),
    st.Page("app_pages/1_Compare_agents.py", title="Compare agents", icon="⚖️", url_path="Compare_agents"),
    st.Page("app_pages/2_Run_history.py", title="Run history", icon="🗂️", url_path="Run_history"),
]
try:
    st.navigation(pages).run()
finally:  # also after st.rerun() or st.stop()
    collect_garbage()  # at most every 30 s: Streamlit's own collection after every run is off (config.toml)
    warm_up_in_background()  # the first run's one-time costs, paid while the first visitor reads the page
