"""The dashboard's pages: each file is a Streamlit page script that ``st.navigation`` in app.py
runs (importing one draws nothing). Not named ``pages/``: Streamlit would serve a folder of
that name beside app.py as pages of their own, without app.py's navigation."""
