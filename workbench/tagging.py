"""Labels and notes on cells: the tag editor of the cell dialog and the label vocabulary in the sidebar.

Tags and labels live in the store (:mod:`core.store.labels`); a tag is a label
from the vocabulary, a free note, or both, signed with :func:`workbench.state.author`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st

from core.store.store import Store
from workbench import state

log = logging.getLogger(__name__)


def tag_editor(cell: dict, on_saved: Callable[[], None] | None = None) -> None:
    """The cell's tags (each removable) and a form to add labels and a note; ``on_saved`` runs before the rerun."""
    store = state.store()
    for t in store.tags([cell["id"]]):
        left, right = st.columns([5, 1])
        what = " · ".join(x for x in (t["label"] and f"`{t['label']}`", t["note"]) if x)
        left.caption(f"{what} — {t['author']}, {t['created_at'][:16].replace('T', ' ')}")
        if right.button("Remove", key=f"untag_{t['id']}", type="tertiary"):
            store.untag(t["id"])
            st.rerun()  # the dialog stays open (its cell is kept in the session) and shows the change
    labels = st.multiselect("Labels", store.labels(), key=f"dlg_labels_{cell['id']}")
    note = st.text_input("Note", key=f"dlg_note_{cell['id']}")
    if st.button("Save tags", key=f"dlg_save_{cell['id']}", type="primary"):
        me = state.author()
        note = note.strip() or None
        if not labels and not note:
            st.warning("Pick a label or write a note first.")
            return
        for i, label in enumerate(labels or [None]):
            store.tag(cell["id"], label, note if i == 0 else None, me)
        log.info("%s tagged cell %s: %s", me, cell["id"], ", ".join(labels) or note)
        state.flash(f"Tagged {cell['image_name']}: {', '.join(labels) or note}")
        if on_saved is not None:
            on_saved()
        st.rerun()


def add_label() -> None:
    """Add the label typed in the vocabulary box (a callback: it runs before the page)."""
    text = (st.session_state.get("vocab_new") or "").strip()
    if text:
        state.store().add_label(text)
        st.session_state["vocab_new"] = ""


def remove_label() -> None:
    """Remove the label chosen in the vocabulary box from the vocabulary (a callback)."""
    label = st.session_state.get("vocab_remove_choice")
    if label:
        state.store().remove_label(label)


def label_vocabulary(store: Store) -> None:
    """The sidebar's label vocabulary: the labels, a box to add one and a choice to remove one."""
    with st.sidebar.expander("Label vocabulary"):
        st.caption(", ".join(store.labels()) or "no labels yet")
        st.text_input("New label", key="vocab_new")
        st.button("Add label", key="vocab_add", on_click=add_label)
        st.selectbox("Label to remove", store.labels(), index=None, key="vocab_remove_choice")
        st.button("Remove label", key="vocab_remove", on_click=remove_label)
