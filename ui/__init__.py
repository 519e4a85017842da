"""Streamlit page parts shared by the pages. They render; the figures come from agent/ and tools/."""
