"""The embedding explorer: extraction, projection, the live widgets in a real kernel, and
the static HTML explorer driven in a headless browser."""

from __future__ import annotations

import base64
import json
import os
import pickle
import re
import shutil
import subprocess
import textwrap
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from gmiqa import explorer as ex
from gmiqa.errors import ConfigError
from gmiqa.profiles import get_profile

# ---------------------------------------------------------------------------------------
# fixtures: a tiny labelled set, fabricated views (no model, no UMAP)
# ---------------------------------------------------------------------------------------


class TinySet(torch.utils.data.Dataset):
    """Items shaped like every gmiqa dataset; each type has its own texture."""

    def __init__(self, types=(1, 10, 11), per_type=4, size=128, seed=0):
        rng = np.random.default_rng(seed)
        self.items = []
        for t in types:
            for k in range(per_type):
                base = rng.random((3, 1, 1)) * np.ones((3, size, size))
                noise = rng.normal(0, 0.02 * t, (3, size, size))
                image = torch.tensor(np.clip(base + noise, 0, 1), dtype=torch.float32)
                level = k % 5 + 1
                self.items.append(
                    {"image": image, "score": 1 - level / 6, "ref_id": k, "type": t,
                     "level": level, "name": f"r{k}_t{t:02d}_l{level}"}
                )  # fmt: skip
        self.records = [{k: v for k, v in it.items() if k != "image"} for it in self.items]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def fake_data(seed: int = 0) -> ex.ExplorerData:
    """Two views with points clustered by type: 30 images and 9 batches."""
    rng = np.random.default_rng(seed)
    types = np.repeat([1, 10, 11], 10)
    levels = np.tile([1, 2, 3, 4, 5], 6)
    centres = {1: (0, 0), 10: (10, 0), 11: (0, 10)}
    thumbs = [
        ex.thumbnail(np.full((24, 32, 3), (20 * i) % 256, dtype=np.uint8), width=32)
        for i in range(30)
    ]
    xy = np.array([centres[t] for t in types], float) + rng.normal(0, 1.0, (30, 2))
    nodes = ex.View(
        "nodes, A", "nodes", "A", xy, types, levels.astype(float), [(int(v),) for v in levels],
        1 - levels / 6, levels + 0.3, np.arange(30), [f"img{i} t{t} l{v}" for i, (t, v) in
                                                      enumerate(zip(types, levels))],
    )  # fmt: skip
    batches = [np.arange(s, s + 3) + 10 * b for b in range(3) for s in (0, 3, 6)]
    btypes = np.array([types[b[0]] for b in batches])
    bxy = np.array([centres[t] for t in btypes], float) + rng.normal(0, 1.0, (9, 2))
    codes = ex.View(
        "graph codes, A", "graph codes", "A", bxy, btypes,
        np.array([levels[b].mean() for b in batches]),
        [tuple(sorted({int(v) for v in levels[b]})) for b in batches],
        np.array([(1 - levels[b] / 6).mean() for b in batches]), np.full(9, 2.5),
        np.array([b[0] for b in batches]), [f"batch {i}" for i in range(9)],
    )  # fmt: skip
    return ex.ExplorerData({nodes.name: nodes, codes.name: codes}, thumbs)


# ---------------------------------------------------------------------------------------
# extraction and projection
# ---------------------------------------------------------------------------------------


def test_one_type_batches_cover_every_item_with_one_type_each():
    types = np.array([1] * 7 + [10] * 3 + [11] * 1 + [16] * 12)
    batches = ex.one_type_batches(types, batch_size=4, batches_per_type=2, seed=3)
    for b in batches:
        assert len(set(types[b])) == 1, b
        assert len(set(b.tolist())) == len(b)  # no repetition inside a batch
    per_type = {t: [b for b in batches if types[b[0]] == t] for t in (1, 10, 11, 16)}
    assert [len(b) for b in per_type[1]] == [4, 4]  # 7 items: a full and a filled-up batch
    assert [len(b) for b in per_type[10]] == [3, 3]  # 3 items: one batch + one more drawn
    assert per_type[11] == []  # a single image makes no graph
    assert len(per_type[16]) == 3  # 12 items, batch 4
    covered = {int(i) for b in batches for i in b}
    assert covered == set(range(len(types))) - {10}
    again = ex.one_type_batches(types, batch_size=4, batches_per_type=2, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    other = ex.one_type_batches(types, batch_size=4, batches_per_type=2, seed=4)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other))
    with pytest.raises(ConfigError, match="batch_size=1"):
        ex.one_type_batches(types, batch_size=1)


def test_knn_accuracy_separates_clusters_from_noise():
    rng = np.random.default_rng(0)
    labels = np.repeat([3, 7, 9], 20)
    clustered = np.eye(3)[np.repeat([0, 1, 2], 20)] * 10 + rng.normal(0, 0.5, (60, 3))
    assert ex.knn_accuracy(clustered, labels, k=5) == 1.0
    noise = rng.normal(size=(60, 3))
    assert ex.knn_accuracy(noise, labels, k=5) < 0.7
    # points 0 and 1 see one neighbour of each label: ties go to the smaller label, 2,
    # so both are wrong (2/3 if ties went to 5); point 2 sees two 5s and is wrong too
    tie = np.array([[0.0], [1.0], [-1.0]])
    assert ex.knn_accuracy(tie, np.array([5, 5, 2]), k=2) == 0.0
    assert ex.knn_accuracy(tie, np.array([5, 5, 2]), k=1) == pytest.approx(2 / 3)
    with pytest.raises(ConfigError, match="do not match"):
        ex.knn_accuracy(noise, labels[:10])


def test_thumbnail_is_a_small_jpeg():
    jpeg = ex.thumbnail(torch.rand(3, 128, 160), width=64)
    assert jpeg[:2] == b"\xff\xd8"
    import io

    from PIL import Image

    assert Image.open(io.BytesIO(jpeg)).size == (64, 51)


@pytest.fixture(scope="module")
def extracted():
    from gmiqa.device import seed_everything
    from gmiqa.models import build_model

    settings = get_profile("smoke").model
    seed_everything(0)
    a = build_model(settings)
    seed_everything(1)
    b = build_model(settings)
    a.eval()
    b.train()
    ds = TinySet()
    emb = ex.extract_embeddings({"a": a, "b": b}, ds, batch_size=3, batches_per_type=2,
                                device="cpu")  # fmt: skip
    return ds, {"a": a, "b": b}, emb


def test_extract_embeddings_matches_the_model(extracted):
    ds, models, emb = extracted
    a, b = emb["a"], emb["b"]
    assert models["b"].training and not models["a"].training  # flags restored
    assert a.images is b.images and len(a.images) == 12
    assert a.nodes.shape == (12, get_profile("smoke").model.node_dim)
    assert len(a.batches) == 3 * 2 and a.graph_codes.shape == (6, a.nodes.shape[1])
    assert sorted(a.batch_types.tolist()) == [1, 1, 10, 10, 11, 11]
    assert np.isfinite(a.level_mu).all()
    names = {it["name"]: it for it in ds.items}
    model = models["a"].eval()
    with torch.no_grad():
        for j in (0, 5, 11):  # a node embedding depends on its image alone
            x = names[a.images.names[j]]["image"][None]
            v = model.node_builder(model.features(x))[0].numpy()
            np.testing.assert_allclose(a.nodes[j], v, rtol=1e-4, atol=1e-5)
            assert a.images.types[j] == names[a.images.names[j]]["type"]
        k = 4  # a graph code is the model's code of that very batch
        x = torch.stack([names[a.images.names[i]]["image"] for i in a.batches[k]])
        np.testing.assert_allclose(
            a.graph_codes[k], model.pretrain_forward(x).graph_code.numpy(), rtol=1e-4, atol=1e-5
        )
    assert not np.allclose(a.nodes, b.nodes)  # two different models, same images


def test_extract_embeddings_refuses_an_empty_selection(extracted):
    ds, models, _ = extracted
    with pytest.raises(ConfigError, match="at least 2"):
        ex.extract_embeddings(models, ds, batch_size=3, indices=[0], device="cpu")
    with pytest.raises(ConfigError, match="at least one model"):
        ex.extract_embeddings({}, ds, batch_size=3)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_build_views_projects_every_kind_and_model_reproducibly(extracted):
    _, _, emb = extracted
    data = ex.build_views(emb, seed=0, n_epochs=50)
    assert list(data.views) == ["nodes, a", "nodes, b", "graph codes, a", "graph codes, b"]
    nodes, codes = data.views["nodes, a"], data.views["graph codes, b"]
    assert nodes.xy.shape == (12, 2) and np.isfinite(nodes.xy).all()
    assert codes.xy.shape == (6, 2) and codes.kind == "graph codes"
    b = emb["b"].batches[0]
    assert codes.level[0] == pytest.approx(emb["b"].images.levels[b].mean())
    assert codes.level_pred[0] == pytest.approx(emb["b"].level_mu[b].mean())
    assert data.types == [1, 10, 11] and data.families == ["blur", "compression", "noise"]
    again = ex.build_views(emb, seed=0, n_epochs=50)
    np.testing.assert_allclose(again.views["nodes, a"].xy, nodes.xy)
    with pytest.raises(ConfigError, match="at least 4 points"):
        ex.project_umap(np.zeros((3, 5)))


def test_visible_filters_by_type_family_and_level():
    data = fake_data()
    assert len(data.visible("nodes, A")) == 30
    assert len(data.visible("nodes, A", type=10)) == 10
    assert len(data.visible("nodes, A", family="noise")) == 10
    assert len(data.visible("nodes, A", level=2)) == 6
    assert len(data.visible("nodes, A", type=10, family="noise")) == 0
    codes = data.views["graph codes, A"]
    shown = data.visible("graph codes, A", level=1)
    assert all(1 in codes.levels[i] for i in shown) and 0 < len(shown) < 9


# ---------------------------------------------------------------------------------------
# the live explorer
# ---------------------------------------------------------------------------------------


def test_explorer_controls_change_what_is_shown_in_process():
    pytest.importorskip("ipywidgets")
    e = ex.Explorer(fake_data())
    first_plot, first_status = e.plot.value, e.status.value
    assert len(e.points.options) == 30 and "30 of 30" in first_status
    e.type.value = 10
    assert len(e.points.options) == 10 and "10 of 30" in e.status.value
    assert e.plot.value != first_plot
    before = e.plot.value
    e.color_by.value = "level"
    assert e.plot.value != before
    e.select(e.points.options[0][1])
    assert e.thumbnail.value[:2] == b"\xff\xd8" and "pseudo-quality" in e.details.value
    e.family.value = "noise"  # type 10 is compression: nothing matches
    assert e.points.options == () and "no point" in e.status.value
    e.family.value = "all"
    e.embedding.value = "graph codes, A"
    assert len(e.points.options) == 3 and e.thumbnail.value == b""


KERNEL_CODE = """
import json, pickle
from gmiqa.explorer import Explorer
with open({path!r}, "rb") as fh:
    explorer = Explorer(pickle.load(fh))
print("IDS", json.dumps({{k: w.model_id for k, w in [("type", explorer.type),
    ("points", explorer.points), ("plot", explorer.plot), ("status", explorer.status),
    ("thumbnail", explorer.thumbnail), ("details", explorer.details)]}}))
print("TYPE_OPTIONS", json.dumps([label for label, _ in explorer.type.options]))
"""


def _drain(kc, until_idle_of: str, timeout: float = 60.0) -> list[dict]:
    """iopub messages until the kernel is idle after request ``until_idle_of``."""
    msgs = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=timeout)
        msgs.append(msg)
        if (
            msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
            and msg["parent_header"].get("msg_id") == until_idle_of
        ):
            return msgs
    raise TimeoutError("the kernel did not become idle")


def _widget_state(msgs: list[dict], model_id: str) -> dict:
    """The last state a frontend received for a widget (comm_open or update), with buffers."""
    state: dict = {}
    for msg in msgs:
        if msg["msg_type"] not in ("comm_open", "comm_msg"):
            continue
        content = msg["content"]
        if content.get("comm_id") != model_id:
            continue
        data = content.get("data", {})
        new = dict(data.get("state", {}))
        for path, buf in zip(data.get("buffer_paths", []), msg.get("buffers", [])):
            new[path[0]] = bytes(buf)
        state.update(new)
    return state


@pytest.mark.timeout(240)
def test_explorer_callbacks_run_in_a_real_kernel(tmp_path):
    """A frontend's messages (a dropdown choice, a click in the point list) reach the kernel's
    callbacks, and the kernel sends the frontend a new plot, status, thumbnail and scores."""
    pytest.importorskip("ipywidgets")
    jupyter_client = pytest.importorskip("jupyter_client")
    data_path = tmp_path / "data.pkl"
    data_path.write_bytes(pickle.dumps(fake_data()))
    km, kc = jupyter_client.manager.start_new_kernel(
        kernel_name="python3", cwd=str(tmp_path), env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    try:
        msg_id = kc.execute(KERNEL_CODE.format(path=str(data_path)))
        msgs = _drain(kc, msg_id)
        out = "".join(
            m["content"]["text"] for m in msgs
            if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
        )  # fmt: skip
        errors = [m["content"] for m in msgs if m["msg_type"] == "error"]
        assert not errors, errors
        ids = json.loads(re.search(r"IDS (.*)", out).group(1))
        options = json.loads(re.search(r"TYPE_OPTIONS (.*)", out).group(1))
        start_plot = _widget_state(msgs, ids["plot"])["value"]
        start_status = _widget_state(msgs, ids["status"])["value"]
        assert start_plot[:4] == b"\x89PNG" and "30 of 30" in start_status

        def frontend_sets(model_id: str, state: dict) -> list[dict]:
            """What a browser sends when the user changes a control."""
            content = {"comm_id": model_id,
                       "data": {"method": "update", "state": state, "buffer_paths": []}}  # fmt: skip
            msg = kc.session.msg("comm_msg", content)
            kc.shell_channel.send(msg)
            return _drain(kc, msg["header"]["msg_id"])

        index = options.index("10: jpeg")
        msgs = frontend_sets(ids["type"], {"index": index})
        plot = _widget_state(msgs, ids["plot"]).get("value")
        status = _widget_state(msgs, ids["status"]).get("value")
        assert plot is not None and plot[:4] == b"\x89PNG" and plot != start_plot
        assert status is not None and "10 of 30" in status
        assert len(_widget_state(msgs, ids["points"])["_options_labels"]) == 10

        msgs = frontend_sets(ids["points"], {"index": 2})  # a click in the point list
        thumb = _widget_state(msgs, ids["thumbnail"]).get("value")
        details = _widget_state(msgs, ids["details"]).get("value")
        assert thumb is not None and thumb[:2] == b"\xff\xd8"
        assert details is not None and "pseudo-quality" in details and "t10" in details
        assert _widget_state(msgs, ids["plot"]).get("value") not in (None, plot)  # ringed
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# ---------------------------------------------------------------------------------------
# the static explorer, in a headless browser
# ---------------------------------------------------------------------------------------


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """A headless Chromium driven over the DevTools protocol (websocket-client)."""

    def __init__(self, profile_dir: Path, width: int = 1400, height: int = 1000):
        import websocket

        self.proc = subprocess.Popen(
            [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--remote-debugging-port=0",
             f"--user-data-dir={profile_dir}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            port = int(found.group(1)) if found else None
        if port is None:
            self.proc.kill()
            raise RuntimeError("chromium did not start its DevTools server")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as fh:
            page = next(p for p in json.load(fh) if p["type"] == "page")
        self.ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        self._id = 0

    def call(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def evaluate(self, expression: str):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)  # fmt: skip
        if "exceptionDetails" in r:
            raise RuntimeError(json.dumps(r["exceptionDetails"])[:2000])
        return r["result"].get("value")

    def open(self, url: str, timeout: float = 60) -> None:
        self.call("Page.enable")
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate("document.readyState") == "complete":
                return
            time.sleep(0.2)
        raise TimeoutError(f"{url} did not load")

    def wait_for(self, expression: str, timeout: float = 20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"never true: {expression}")

    def mouse(self, x: float, y: float, click: bool = False) -> None:
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        if click:
            for kind in ("mousePressed", "mouseReleased"):
                self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                          clickCount=1)  # fmt: skip

    def screenshot(self, path: Path) -> Path:
        r = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        Path(path).write_bytes(base64.b64decode(r["data"]))
        return Path(path)

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            self.proc.wait(10)


# JavaScript run in the page: the explorer element and the screen position of the most
# isolated visible point (so that hovering there can only mean that point).
FIND_POINT = textwrap.dedent(
    """
    (() => {
      const root = document.querySelector('.gmiqa-explorer');
      root.scrollIntoView();
      const gd = root.querySelector('.gx-plot'), fl = gd._fullLayout;
      const box = gd.getBoundingClientRect(), pts = [];
      gd.data.forEach((tr, c) => { if (c === 0) return; tr.x.forEach((x, i) => pts.push({
        x: box.left + fl.xaxis._offset + fl.xaxis.l2p(x),
        y: box.top + fl.yaxis._offset + fl.yaxis.l2p(tr.y[i]), text: tr.text[i]})); });
      let best = null, bestGap = -1;
      for (const p of pts) {
        let gap = Infinity;
        for (const q of pts) if (q !== p) gap = Math.min(gap, Math.hypot(p.x - q.x, p.y - q.y));
        if (gap > bestGap) { bestGap = gap; best = p; }
      }
      return best;
    })()
    """
)


def drive_static_explorer(browser: Browser, url: str, select: dict[str, str]) -> dict:
    """Open ``url``, change the explorer's selects, hover over and click a point.

    Returns what the page showed before and after; used by the test below and by the
    book check (``notebooks/08_embedding_explorer.ipynb`` built into HTML).
    """
    browser.open(url)
    root = "document.querySelector('.gmiqa-explorer')"
    browser.wait_for(f"{root} && {root}.getAttribute('data-shown')")
    shown = {"start": int(browser.evaluate(f"{root}.getAttribute('data-shown')"))}
    for control, value in select.items():
        browser.evaluate(
            f"(() => {{ const s = {root}.querySelector('select[data-control=\"{control}\"]');"
            f" s.value = {json.dumps(value)}; s.dispatchEvent(new Event('change')); }})()"
        )
        shown[control] = int(browser.evaluate(f"{root}.getAttribute('data-shown')"))
    point = browser.evaluate(FIND_POINT)
    browser.mouse(point["x"], point["y"])
    hovered = browser.wait_for(f"{root}.getAttribute('data-shown-point')")
    browser.mouse(point["x"], point["y"], click=True)
    return {
        "shown": shown,
        "target": point["text"],
        "hovered": hovered,
        "thumb": browser.evaluate(f"{root}.querySelector('.gx-thumb').src.slice(0, 40)"),
        "details": browser.evaluate(f"{root}.querySelector('.gx-details').textContent"),
        "traces": browser.evaluate(f"{root}.querySelector('.gx-plot').data.length"),
    }


def test_static_explorer_is_self_contained_and_deterministic():
    data = fake_data()
    page = ex.static_explorer(data, "t")
    html = page._repr_html_()
    assert not re.search(r"<(script|img|link)[^>]+(src|href)=\"?http", html)  # all inline
    assert not re.search(r"<script[^>]+src=", html)
    assert "window.Plotly = Plotly" in html  # plotly.js is inline
    assert html == ex.static_explorer(data, "t")._repr_html_()
    assert page.element_id in html
    assert len(ex.static_explorer(data, include_plotlyjs=False)) < 100_000


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.skipif(chromium() is None, reason="no chromium for the browser check")
def test_static_explorer_reacts_to_controls_and_hover_in_a_browser(tmp_path):
    pytest.importorskip("websocket")
    data = fake_data()
    path = ex.static_explorer(data, "fake data").save(tmp_path / "explorer.html")
    browser = Browser(tmp_path / "chrome")
    try:
        seen = drive_static_explorer(browser, path.as_uri(), {"type": "11", "color": "level"})
        browser.screenshot(tmp_path / "after-hover.png")
    finally:
        browser.close()
    assert seen["shown"] == {"start": 30, "type": 10, "color": 10}
    assert seen["traces"] == 2  # grey context + one level-coloured trace
    assert seen["hovered"] == seen["target"] and re.search(r" t11 l\d$", seen["target"])
    assert seen["thumb"].startswith("data:image/jpeg;base64,")
    assert "pseudo-quality score (image)" in seen["details"]
