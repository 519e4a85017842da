"""KPI Narrator's entry point (`streamlit run app.py`): the pages, and their names in the menu.

With `st.navigation` the pages/ folder is not discovered on its own: each page is listed here, and the main page
gets a real name ("Explain a change", not "app").
"""

import streamlit as st

st.set_page_config(page_title="KPI Narrator", page_icon="📈", layout="wide")
pages = [
    st.Page("pages/explain.py", title="Explain a change", icon="📈", default=True),
    st.Page("pages/1_Compare_agents.py", title="Compare agents", icon="⚖️", url_path="Compare_agents"),
    st.Page("pages/2_Run_history.py", title="Run history", icon="🗂️", url_path="Run_history"),
]
st.navigation(pages).run()
