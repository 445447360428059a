"""Show consecutive notebook cells as one set of synchronized sphinx-design tabs.

A code cell tagged ``tab:PyTorch`` (or ``tab:Keras``, ``tab:NumPy`` …) is executed and checked
like any other cell, and in a notebook reads top to bottom. On the website, each run of
consecutive tagged cells becomes one tab set, one tab per cell, labelled by the tag; tabs with
the same label switch together across the whole site (sphinx-design's sync group "framework").
A new run starts when a label repeats, so two comparisons can sit back to back.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx_design.shared import create_component

TAG_PREFIX = "tab:"
SYNC_GROUP = "framework"


def tab_label(node: nodes.Node) -> str | None:
    """The label of a tagged code cell, or None for anything else."""
    if not (isinstance(node, nodes.container) and node.get("nb_element") == "cell_code"):
        return None
    tags = node.get("cell_metadata", {}).get("tags", [])
    labels = [tag[len(TAG_PREFIX) :] for tag in tags if tag.startswith(TAG_PREFIX)]
    return labels[0] if labels else None


def tab_item(label: str, cell: nodes.Element) -> nodes.container:
    title = nodes.rubric(label, label, classes=["sd-tab-label"], sync_id=label, sync_group=SYNC_GROUP)
    content = create_component("tab-content", classes=["sd-tab-content"], children=[cell])
    return create_component("tab-item", classes=["sd-tab-item"], children=[title, content], selected=False)


class CellTabs(SphinxTransform):
    """Group runs of ``tab:`` cells into tab sets (before sphinx-design renders tab sets to HTML)."""

    default_priority = 500

    def apply(self, **kwargs: Any) -> None:
        parents = {id(n.parent): n.parent for n in self.document.findall(nodes.container) if tab_label(n) and n.parent}
        for parent in parents.values():
            self.group_children(parent)

    @staticmethod
    def group_children(parent: nodes.Element) -> None:
        children: list[nodes.Node] = []
        run: list[tuple[str, nodes.Element]] = []

        def close_run() -> None:
            if run:
                tab_set = create_component("tab-set", classes=["sd-tab-set"])
                tab_set.extend(tab_item(label, cell) for label, cell in run)
                children.append(tab_set)
                run.clear()

        for child in parent.children:
            label = tab_label(child)
            if label is None:
                close_run()
                children.append(child)
                continue
            if label in (existing for existing, _ in run):
                close_run()
            run.append((label, child))  # type: ignore[arg-type]
        close_run()
        parent.children = []
        parent.extend(children)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_transform(CellTabs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
