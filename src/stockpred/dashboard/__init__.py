"""The analysts' dashboard (Streamlit, an optional extra)."""
