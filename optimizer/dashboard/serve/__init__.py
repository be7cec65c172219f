"""Holds the script `streamlit run` serves, away from `optimizer/dashboard/pages/`.

Streamlit treats a `pages/` folder beside the main script as legacy multipage files and routes URLs
such as `/overview` to them before `st.navigation` runs; our `pages/` modules only define `render()`,
so serving from `optimizer/dashboard/` showed blank pages. One folder down, there is no `pages/`.
"""
