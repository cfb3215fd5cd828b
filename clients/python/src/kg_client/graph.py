"""A neighbourhood as kg answers it, and as a networkx graph."""

from __future__ import annotations

from typing import Any

from . import models

__all__ = ["Neighborhood"]


class Neighborhood:
    """The answer of ``neighbors()``: ``nodes`` (entities), ``edges``
    (relationships among them), ``truncated`` (a budget of kg's cut the
    traversal short) and ``truncated_by`` (which: ``nodes``, ``edges``,
    ``rows``, ``time``)."""

    def __init__(self, response: models.NeighborhoodResponse) -> None:
        self.response = response
        self.nodes = response.nodes
        self.edges = response.edges
        self.truncated = response.truncated
        self.truncated_by = response.truncated_by

    def __repr__(self) -> str:
        return f"Neighborhood({len(self.nodes)} nodes, {len(self.edges)} edges, truncated_by={self.truncated_by})"

    def to_networkx(self) -> Any:
        """A ``networkx.MultiDiGraph``: a node per entity id with the entity's
        fields as attributes, an edge per relationship keyed by its id.
        Needs networkx (``pip install 'kg-client[graph]'``)."""
        try:
            import networkx
        except ImportError as e:
            raise ImportError("to_networkx() needs networkx: pip install 'kg-client[graph]'") from e
        graph = networkx.MultiDiGraph()
        for node in self.nodes:
            fields = node.model_dump(mode="json")
            graph.add_node(fields.pop("id"), **fields)
        for edge in self.edges:
            fields = edge.model_dump(mode="json")
            graph.add_edge(fields.pop("source_id"), fields.pop("target_id"), key=fields.pop("id"), **fields)
        return graph
