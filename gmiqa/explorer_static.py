"""The static, self-contained embedding explorer: one HTML block, no kernel, no network.

Taught in ``notebooks/08_embedding_explorer.ipynb``. :func:`static_explorer` renders the
views of an :class:`gmiqa.embeddings.ExplorerData` with plotly.js embedded inline,
thumbnails as base64 JPEG and a few lines of JavaScript, so it stays interactive in the
static book (hover or click a point to see its thumbnail and scores).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Iterable
from pathlib import Path

from gmiqa.atomic import atomic_write_text
from gmiqa.embeddings import ExplorerData, type_family, type_name

COLOR_BY = ("type", "family", "level")

# 26 colours: matplotlib's tab10, then the light halves of tab20, then six of Dark2's
# and Set1's; the first ten (the families, few types) are the most distinct.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5", "#1b9e77", "#d95f02", "#7570b3", "#e7298a",
    "#66a61e", "#e6ab02",
)  # fmt: skip


# ---------------------------------------------------------------------------------------
# 3b. the static, self-contained explorer (plotly.js inline)
# ---------------------------------------------------------------------------------------

_JS = r"""
(function () {
  var root = document.getElementById("__ID__");
  var data = JSON.parse(root.querySelector("script.gx-data").textContent);
  var plot = root.querySelector(".gx-plot");
  var thumb = root.querySelector(".gx-thumb");
  var details = root.querySelector(".gx-details");
  var status = root.querySelector(".gx-status");
  var ctl = {};
  root.querySelectorAll("select[data-control]").forEach(function (s) {
    ctl[s.getAttribute("data-control")] = s;
    s.addEventListener("change", draw);
  });
  var current = null, bound = false;
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c];
    });
  }
  function visible(v) {
    var t = +ctl.type.value, f = ctl.family.value, l = +ctl.level.value, out = [];
    for (var i = 0; i < v.x.length; i++) {
      if (t && v.type[i] !== t) continue;
      if (f !== "all" && data.family[v.type[i]] !== f) continue;
      if (l && v.levels[i].indexOf(l) < 0) continue;
      out.push(i);
    }
    return out;
  }
  function show(i) {
    var v = current, what = v.kind === "graph codes" ? "batch mean" : "image";
    thumb.src = "data:image/jpeg;base64," + data.thumbs[v.thumb[i]];
    thumb.style.visibility = "visible";
    details.innerHTML = "<b>" + esc(v.text[i]) + "</b><br>type " + v.type[i] + ": " +
      esc(data.typename[v.type[i]]) + " (" + esc(data.family[v.type[i]]) + ")<br>level (" +
      what + "): " + v.level[i].toFixed(v.kind === "nodes" ? 0 : 2) +
      "<br>pseudo-quality score (" + what + "): " +
      v.score[i].toFixed(3) + "<br>predicted level, " + esc(v.model) + " (" + what + "): " +
      v.pred[i].toFixed(2);
    root.setAttribute("data-shown-point", v.text[i]);
  }
  function draw() {
    var v = data.views[ctl.view.value], by = ctl.color.value, idx = visible(v);
    current = v;
    var sym = v.kind === "nodes" ? "circle" : "diamond", traces = [{
      x: v.x, y: v.y, mode: "markers", type: "scatter", hoverinfo: "skip", showlegend: false,
      marker: {color: "#dddddd", size: 5}, name: "other points"
    }];
    function pick(list, key) { return list.map(function (i) { return v[key][i]; }); }
    if (by === "level") {
      traces.push({x: pick(idx, "x"), y: pick(idx, "y"), customdata: idx, text: pick(idx, "text"),
        mode: "markers", type: "scatter", name: "level", hovertemplate: "%{text}<extra></extra>",
        marker: {color: pick(idx, "level"), colorscale: "Viridis", cmin: 1, cmax: 5, size: 9,
          symbol: sym, line: {color: "white", width: 0.5},
          colorbar: {title: {text: v.kind === "nodes" ? "level" : "mean level"}}}});
    } else {
      var keys = by === "type" ? data.types.map(function (t) { return data.typename[t]; })
                               : data.families;
      keys.forEach(function (key, c) {
        var pts = idx.filter(function (i) {
          return (by === "type" ? data.typename[v.type[i]] : data.family[v.type[i]]) === key;
        });
        if (!pts.length) return;
        traces.push({x: pick(pts, "x"), y: pick(pts, "y"), customdata: pts,
          text: pick(pts, "text"), mode: "markers", type: "scatter", name: key,
          hovertemplate: "%{text}<extra></extra>",
          marker: {color: data.palette[c % data.palette.length], size: 9, symbol: sym,
            line: {color: "white", width: 0.5}}});
      });
    }
    var layout = {title: {text: v.name + ": " + idx.length + " of " + v.x.length + " points",
        font: {size: 13}, x: 0.01, xanchor: "left"}, hovermode: "closest",
      // the toolbar stands on the right edge, not over the title
      modebar: {orientation: "v"}, margin: {l: 30, r: 40, t: 40, b: 30},
      xaxis: {title: {text: "UMAP 1"}, showticklabels: false, zeroline: false},
      yaxis: {title: {text: "UMAP 2"}, showticklabels: false, zeroline: false},
      legend: {font: {size: 10}}, height: 480};
    Plotly.react(plot, traces, layout, {displaylogo: false, responsive: true});
    status.textContent = idx.length + " of " + v.x.length + " " +
      (v.kind === "nodes" ? "images" : "batches") + " shown; hover over or click a point";
    root.setAttribute("data-shown", String(idx.length));
    if (!bound) {
      bound = true;
      plot.on("plotly_hover", function (e) { show(e.points[0].customdata); });
      plot.on("plotly_click", function (e) { show(e.points[0].customdata); });
    }
  }
  draw();
})();
"""


def _options(pairs: Iterable[tuple[str, str]]) -> str:
    return "".join(
        f'<option value="{html.escape(str(v))}">{html.escape(str(label))}</option>'
        for v, label in pairs
    )


class StaticExplorer:
    """A self-contained interactive explorer as HTML (``08_embedding_explorer``).

    Shown inline in a notebook (``_repr_html_``), it is kept by the executed notebook and
    rendered by the book as raw HTML: plotly.js is embedded (no CDN), the thumbnails are
    base64 JPEG, so it works offline and without a kernel. :meth:`save` writes a
    standalone page.
    """

    def __init__(self, fragment: str, element_id: str):
        self.fragment = fragment
        self.element_id = element_id

    def _repr_html_(self) -> str:
        return self.fragment

    def page(self, title: str = "GMIQA embedding explorer") -> str:
        """A complete HTML page around the fragment."""
        return (
            f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}'
            f"</title></head>\n<body>\n{self.fragment}\n</body></html>\n"
        )

    def save(self, path: str | Path, title: str = "GMIQA embedding explorer") -> Path:
        """Write :meth:`page` to ``path`` atomically."""
        return atomic_write_text(Path(path), self.page(title))

    def __len__(self) -> int:
        return len(self.fragment)


def static_explorer(
    data: ExplorerData, title: str = "", include_plotlyjs: bool = True
) -> StaticExplorer:
    """Build the self-contained interactive explorer (see :class:`StaticExplorer`).

    Taught in ``notebooks/08_embedding_explorer.ipynb``. ``include_plotlyjs=False``
    leaves plotly.js out, for a page that already loads it. Element ids are derived from
    the data, so the same data give the same HTML.
    """
    views = {}
    for name, v in data.views.items():
        views[name] = {
            "name": name,
            "kind": v.kind,
            "model": v.model,
            "x": [round(float(a), 4) for a in v.xy[:, 0]],
            "y": [round(float(a), 4) for a in v.xy[:, 1]],
            "type": [int(t) for t in v.types],
            "level": [round(float(a), 3) for a in v.level],
            "levels": [list(ls) for ls in v.levels],
            "score": [round(float(a), 4) for a in v.score],
            "pred": [round(float(a), 3) for a in v.level_pred],
            "thumb": [int(t) for t in v.thumb],
            "text": list(v.text),
        }
    payload = {
        "views": views,
        "thumbs": [base64.b64encode(b).decode("ascii") for b in data.thumbnails],
        "types": data.types,
        "typename": {t: type_name(t) for t in data.types},
        "family": {t: type_family(t) for t in data.types},
        "families": data.families,
        "palette": list(PALETTE),
    }
    blob = json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")
    element_id = "gmiqa-explorer-" + hashlib.sha256(blob.encode()).hexdigest()[:12]
    select = 'style="margin-right:1em"'
    controls = (
        f'<label>embedding <select data-control="view" {select}>'
        f"{_options((n, n) for n in data.views)}</select></label>"
        f'<label>colour by <select data-control="color" {select}>'
        f"{_options((c, c) for c in COLOR_BY)}</select></label>"
        f'<label>type <select data-control="type" {select}>'
        f"{_options([('0', 'all')] + [(str(t), f'{t}: {type_name(t)}') for t in data.types])}"
        "</select></label>"
        f'<label>family <select data-control="family" {select}>'
        f"{_options([('all', 'all')] + [(f, f) for f in data.families])}</select></label>"
        f'<label>level <select data-control="level" {select}>'
        f"{_options([('0', 'all')] + [(str(lv), str(lv)) for lv in data.levels])}"
        "</select></label>"
    )
    heading = f"<p><b>{html.escape(title)}</b></p>" if title else ""
    plotlyjs = ""
    if include_plotlyjs:
        from plotly.offline import (
            get_plotlyjs,  # optional (the notebooks extra): imported only where used
        )

        plotlyjs = (
            "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>\n"
            f"<script>if (!window.Plotly) {{ {get_plotlyjs()} }}</script>\n"
        )
    fragment = (
        f'<div id="{element_id}" class="gmiqa-explorer" style="font-family:sans-serif;'
        'font-size:13px">'
        f'{heading}<div class="gx-controls" style="margin-bottom:6px">{controls}</div>'
        '<div style="display:flex;flex-wrap:wrap;align-items:flex-start">'
        '<div class="gx-plot" style="flex:1 1 440px;min-width:320px;height:480px"></div>'
        '<div style="width:210px;padding-left:10px">'
        '<div class="gx-status" style="margin-bottom:6px"></div>'
        '<img class="gx-thumb" alt="thumbnail of the point under the pointer" '
        'style="width:192px;max-width:100%;visibility:hidden;border:1px solid #ccc">'
        '<div class="gx-details" style="margin-top:6px">Hover over or click a point to see '
        "its image and scores.</div></div></div>"
        f'<script type="application/json" class="gx-data">{blob}</script></div>\n'
        f"{plotlyjs}<script>{_JS.replace('__ID__', element_id)}</script>\n"
    )
    return StaticExplorer(fragment, element_id)
