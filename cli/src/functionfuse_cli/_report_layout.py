"""Where the run report draws each node: a layered left-to-right layout made in Python.

The page only draws what this module computes, so the layout is deterministic (the same
record gives the same picture), costs the browser nothing at 10,000 nodes, and is tested
here without a browser. Steps: summarize large fan-ins/fan-outs (more than
:data:`GROUP_THRESHOLD` nodes of one function with the same parents and the same children
become one group item, labelled with the function's name and the count); give every item
a layer (the longest path from a root); order each layer by a few barycenter sweeps,
which untangles most crossings; then place items at their parents' (or children's) mean
height without overlaps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, TypedDict

__all__ = ["GROUP_THRESHOLD", "Layout", "layout"]

#: More nodes than this of one function with the same parents and children: one group item.
GROUP_THRESHOLD: Final = 20

_CHAR_WIDTH: Final = 7  # px per character of the page's 12px label font (an estimate)
_MIN_WIDTH: Final = 60
_MAX_WIDTH: Final = 220
_HEIGHT: Final = 28
_GROUP_HEIGHT: Final = 40
_ROW_GAP: Final = 12
_LAYER_GAP: Final = 70
_SWEEPS: Final = 2


class Layout(TypedDict):
    """What the page draws. Item ``i`` is a node, or a group of nodes drawn as one.

    ``x``/``y`` are an item's top-left corner, ``w``/``h`` its size (page pixels at zoom 1);
    ``members[i]`` are indexes into the record's ``nodes``; ``node_item[n]`` is the item
    that draws node ``n``; ``edges`` is flat: ``parent item, child item, dashed`` (1 for
    the order of method calls on one instance, 0 for data).
    """

    width: int
    height: int
    x: list[int]
    y: list[int]
    w: list[int]
    h: list[int]
    label: list[str]
    members: list[list[int]]
    node_item: list[int]
    edges: list[int]


def layout(nodes: Sequence[Mapping[str, Any]]) -> Layout:
    """The layout of a run record's ``nodes`` (see :class:`Layout`)."""
    index = {node["name"]: i for i, node in enumerate(nodes)}
    parents, chained = _node_parents(nodes, index)
    children: list[list[int]] = [[] for _ in nodes]
    for child, ps in enumerate(parents):
        for parent in ps:
            children[parent].append(child)
    members, node_item = _items(nodes, parents, children)

    item_parents: list[dict[int, bool]] = [{} for _ in members]  # parent item -> dashed
    for child, node_parents in enumerate(parents):
        for parent in node_parents:
            a, b = node_item[parent], node_item[child]
            if a != b:
                dashed = (parent, child) in chained
                item_parents[b][a] = item_parents[b].get(a, True) and dashed
    item_children: list[list[int]] = [[] for _ in members]
    for b, parent_items in enumerate(item_parents):
        for a in parent_items:
            item_children[a].append(b)

    layers = _layers(item_parents, item_children)
    order = _order(layers, item_parents, item_children)

    label = [_label(nodes, group) for group in members]
    h = [_GROUP_HEIGHT if len(group) > 1 else _HEIGHT for group in members]
    w = [min(_MAX_WIDTH, max(_MIN_WIDTH, len(text) * _CHAR_WIDTH + 20)) for text in label]
    x = [0] * len(members)
    left = 0
    for column in order:
        width = max((w[i] for i in column), default=0)
        for i in column:
            x[i] = left + (width - w[i]) // 2
        left += width + _LAYER_GAP
    y = _heights(order, h, item_parents, item_children)

    edges: list[int] = []
    for b, parent_items in enumerate(item_parents):
        for a, dashed in parent_items.items():
            edges += (a, b, int(dashed))
    return Layout(
        width=max(left - _LAYER_GAP, 0),
        height=max((y[i] + h[i] for i in range(len(members))), default=0),
        x=x,
        y=y,
        w=w,
        h=h,
        label=label,
        members=members,
        node_item=node_item,
        edges=edges,
    )


def _node_parents(
    nodes: Sequence[Mapping[str, Any]], index: Mapping[str, int]
) -> tuple[list[list[int]], set[tuple[int, int]]]:
    """Each node's parents, and the (previous call, method) pairs that order the calls on
    one instance — from the class node to its first method call, then call to call —
    drawn dashed, as ``fuse graph`` draws them. The record names the class node as a
    method's ``instance`` (older drafts: the previous call) and lists the previous call
    among its parents, or not: the chain is rebuilt from the record's (graph) order."""
    parents: list[list[int]] = []
    chained: set[tuple[int, int]] = set()
    root_of: dict[int, int] = {}  # a method call -> its class node
    last_call: dict[int, int] = {}  # a class node -> its latest method call so far
    for i, node in enumerate(nodes):
        mine: list[int] = []
        for name in node.get("parents") or ():
            parent = index.get(name)
            if parent is not None and parent != i and parent not in mine:
                mine.append(parent)
        instance = index.get(node.get("instance") or "")
        if instance is not None and instance != i:
            root = root_of.get(instance, instance)
            previous = last_call.get(root, root)
            root_of[i] = root
            last_call[root] = i
            if previous not in mine:
                mine.append(previous)
            chained.add((previous, i))
        parents.append(mine)
    return parents, chained


def _items(
    nodes: Sequence[Mapping[str, Any]], parents: list[list[int]], children: list[list[int]]
) -> tuple[list[list[int]], list[int]]:
    """The drawn items (lists of node indexes, in record order) and each node's item."""
    similar: dict[tuple[Any, ...], list[int]] = {}
    for i, node in enumerate(nodes):
        if node.get("kind", "function") != "function":
            continue  # class nodes and method chains stay visible one by one
        key = (node.get("function"), tuple(sorted(parents[i])), tuple(sorted(children[i])))
        similar.setdefault(key, []).append(i)
    grouped = {group[0]: group for group in similar.values() if len(group) > GROUP_THRESHOLD}
    members: list[list[int]] = []
    node_item = [-1] * len(nodes)
    for i in range(len(nodes)):
        if node_item[i] != -1:
            continue
        group = grouped.get(i, [i])
        for member in group:
            node_item[member] = len(members)
        members.append(group)
    return members, node_item


def _layers(item_parents: list[dict[int, bool]], item_children: list[list[int]]) -> list[int]:
    """Each item's layer: the length of the longest path to it from a root (Kahn's order;
    items on a cycle, which a valid record never has, go one past their known parents)."""
    waiting = [len(ps) for ps in item_parents]
    ready = [i for i, count in enumerate(waiting) if count == 0]
    layer = [0] * len(item_parents)
    done = [False] * len(item_parents)
    position = 0
    while True:
        while position < len(ready):
            item = ready[position]
            position += 1
            done[item] = True
            for child in item_children[item]:
                layer[child] = max(layer[child], layer[item] + 1)
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
        stuck = next((i for i, finished in enumerate(done) if not finished), None)
        if stuck is None:
            return layer
        waiting[stuck] = 0
        ready.append(stuck)


def _order(
    layers: list[int], item_parents: list[dict[int, bool]], item_children: list[list[int]]
) -> list[list[int]]:
    """The items of each layer, top to bottom, after barycenter sweeps down and up."""
    order: list[list[int]] = [[] for _ in range(max(layers, default=-1) + 1)]
    for item, number in enumerate(layers):
        order[number].append(item)
    rank = [0.0] * len(layers)
    for column in order:
        for position, item in enumerate(column):
            rank[item] = position
    for _ in range(_SWEEPS):
        for column in order[1:]:
            _sort_by_mean(column, [list(item_parents[i]) for i in column], rank)
        for column in reversed(order[:-1]):
            _sort_by_mean(column, [item_children[i] for i in column], rank)
    return order


def _sort_by_mean(column: list[int], neighbours: list[list[int]], rank: list[float]) -> None:
    """Sort ``column`` in place by the mean rank of each item's neighbours (an item
    without neighbours keeps its place), then renumber the ranks of its items."""
    keys = []
    for position, (item, near) in enumerate(zip(column, neighbours, strict=True)):
        mean = sum(rank[n] for n in near) / len(near) if near else rank[item]
        keys.append((mean, position, item))
    keys.sort()
    column[:] = [item for _, _, item in keys]
    for position, item in enumerate(column):
        rank[item] = position


def _heights(
    order: list[list[int]],
    h: list[int],
    item_parents: list[dict[int, bool]],
    item_children: list[list[int]],
) -> list[int]:
    """Each item's top: near the middle of its parents (its children for a root), without
    overlapping its layer's other items and keeping the layer's order."""
    y = [0.0] * len(h)
    for column in order:  # first pass: stack each layer from 0
        top = 0.0
        for item in column:
            y[item] = top
            top += h[item] + _ROW_GAP
    for _ in range(2):
        for number, column in enumerate(order):
            wanted = []
            for item in column:
                near = list(item_parents[item]) or (item_children[item] if number == 0 else [])
                centre = (
                    sum(y[n] + h[n] / 2 for n in near) / len(near)
                    if near
                    else y[item] + h[item] / 2
                )
                wanted.append(centre - h[item] / 2)
            _place(column, wanted, h, y)
    low = min(y, default=0.0)
    return [round(value - low) for value in y]


def _place(column: list[int], wanted: list[float], h: list[int], y: list[float]) -> None:
    """Tops as close to ``wanted`` as the order allows: the mean of a top-down pass (push
    down past the previous item) and a bottom-up pass (push up above the next one). Both
    keep the gaps, so their mean does too."""
    down = list(wanted)
    for k in range(1, len(column)):
        down[k] = max(down[k], down[k - 1] + h[column[k - 1]] + _ROW_GAP)
    up = list(wanted)
    for k in range(len(column) - 2, -1, -1):
        up[k] = min(up[k], up[k + 1] - h[column[k]] - _ROW_GAP)
    for k, item in enumerate(column):
        y[item] = (down[k] + up[k]) / 2


def _label(nodes: Sequence[Mapping[str, Any]], group: list[int]) -> str:
    first = nodes[group[0]]
    if len(group) == 1:
        return str(first["name"])
    function = str(first.get("function") or first["name"])
    return f"{function.rsplit('.', 1)[-1]} \u00d7{len(group)}"
