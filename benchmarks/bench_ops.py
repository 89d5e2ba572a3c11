"""GMIQA's own operations, the previous code path next to the current one, one run.

Issue 13's changes to the graph module and the self-calibrated branch, measured where
they act (any device; on the CPU the operation counts and saved bytes are the portable
part, the times are this machine's):

- ``gcn_e``: GCN-E (``_GCNStack``, 3 layers, feature_dim -> edge_dim) on the N^2 edges of
  a batch of N images, forward + backward. ``previous``: each PyG ``DenseGCNConv``
  cleans, self-loops and normalises the M x M adjacency itself (:func:`pyg_layers_forward`);
  ``current``: ``A + I`` and ``deg^-1/2`` once per forward, the layers apply
  ``d * ((A + I) @ (d * h W)) + b``.
- ``scconv``: one SCConv (training step: forward + backward; inference: forward without
  gradients) at a divisible map size. ``previous``: interpolate, add, sigmoid, multiply;
  ``current``: broadcast add over the pooling blocks, in-place sigmoid (and multiply
  in place without autograd).

For each: milliseconds per call (median of ``--repeat``), the number of operator calls
(``torch.profiler``), and the bytes autograd saves for backward. JSON with provenance to
``--out`` (default ``data/results/bench_ops_cpu.json`` on the CPU).

Example::

    python benchmarks/bench_ops.py --device cpu
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent


def saved_bytes(fn) -> int:
    """Bytes of distinct storages autograd holds for backward during one ``fn()`` (peak)."""
    seen: dict[int, int] = {}

    def pack(t):
        st = t.untyped_storage()
        seen[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def op_calls(fn) -> int:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(int(e.count) for e in prof.key_averages())


def time_ms(fn, dev, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        fn()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        times.append(1000.0 * (time.perf_counter() - t0))
    return statistics.median(times)


def compare(name: str, size: str, previous, current, dev, repeat: int, grad: bool) -> dict:
    row = {"name": name, "size": size}
    for label, fn in (("previous", previous), ("current", current)):
        row[label] = {
            "ms": time_ms(fn, dev, repeat),
            "op_calls": op_calls(fn),
            "saved_mib": saved_bytes(fn) / 2**20 if grad else None,
        }
    p, c = row["previous"], row["current"]
    row["speedup"] = p["ms"] / c["ms"]
    saved = f", saved {p['saved_mib']:.1f} -> {c['saved_mib']:.1f} MiB" if grad else ""
    print(f"{name:<22}{size:<22} {p['ms']:9.2f} -> {c['ms']:9.2f} ms (x{row['speedup']:.2f}), "
          f"op calls {p['op_calls']} -> {c['op_calls']}{saved}", flush=True)  # fmt: skip
    return row


def pyg_layers_forward(stack, h, adj):
    """A ``_GCNStack`` computed the previous way: PyG's ``DenseGCNConv`` in each layer, with
    the stack's own parameters, each layer normalising the adjacency itself."""
    from torch.func import functional_call
    from torch_geometric.nn import DenseGCNConv

    from gmiqa.models.graph import clean_adjacency

    adj = clean_adjacency(adj)
    for i, layer in enumerate(stack.convs):
        with torch.random.fork_rng(devices=[]):  # building a layer draws random numbers
            conv = DenseGCNConv(layer.in_channels, layer.out_channels).to(h.device)
        h = functional_call(conv, dict(layer.named_parameters()),
                            (F.relu(h) if i else h, adj))  # fmt: skip
    return h.squeeze(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batches", default="8,16,32", help="images per graph: M = N^2 edges")
    ap.add_argument("--feature-dim", type=int, default=512)
    ap.add_argument("--edge-dim", type=int, default=64)
    ap.add_argument("--scconv", default="32x128x128,64x64x64,128x32x32",
                    help="SCConv CxHxW maps (batch --sc-batch)")  # fmt: skip
    ap.add_argument("--sc-batch", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--no-out", action="store_true")
    args = ap.parse_args(argv)

    from gmiqa.device import resolve_device
    from gmiqa.models.graph import EdgeBuilder, edge_init
    from gmiqa.models.scconv import SCConv

    dev = resolve_device(args.device)
    torch.manual_seed(0)
    rows = []
    print(f"# device {dev}, {torch.get_num_threads()} threads; previous -> current")
    gcn = EdgeBuilder(args.feature_dim, args.edge_dim, 3).to(dev)
    for n in (int(v) for v in args.batches.split(",") if v.strip()):
        feats = torch.randn(n, args.feature_dim, device=dev, requires_grad=True)

        def step(path, feats=feats, n=n):
            e0 = edge_init(feats).reshape(n * n, -1)
            if path == "previous":
                from gmiqa.models.graph import cosine_adjacency

                out = pyg_layers_forward(gcn.gcn, e0, cosine_adjacency(e0))
            else:
                out = gcn(e0)
            out.square().mean().backward()

        rows.append(compare("gcn_e fwd+bwd", f"N={n} (M={n * n})", lambda: step("previous"),
                            lambda: step("current"), dev, args.repeat, True))  # fmt: skip
    for spec in (s for s in args.scconv.split(",") if s.strip()):
        c, h, w = (int(v) for v in spec.split("x"))
        conv = SCConv(c).to(dev)
        x = torch.randn(args.sc_batch, c, h, w, device=dev)

        def previous(conv=conv, x=x):
            gate = torch.sigmoid(x + F.interpolate(conv.k2(x), size=x.shape[-2:]))
            return conv.k4(conv.k3(x) * gate)

        def current(conv=conv, x=x):
            return conv(x)

        def train(fn):
            def run():
                fn().square().mean().backward()

            return run

        def infer(fn):
            def run():
                with torch.no_grad():
                    fn()

            return run

        size = f"{args.sc_batch}x{c}x{h}x{w}"
        conv.train()
        rows.append(compare("scconv train step", size, train(previous), train(current),
                            dev, args.repeat, True))  # fmt: skip
        conv.eval()
        rows.append(compare("scconv inference", size, infer(previous), infer(current),
                            dev, args.repeat, False))  # fmt: skip
    if not args.no_out:
        from gmiqa.provenance import provenance
        from gmiqa.results import make_result, script_command, write_result

        out = args.out or REPO / "data" / "results" / f"bench_ops_{dev.type}.json"
        result = make_result(
            {
                "summary": {f"{r['name']}@{r['size']}": {"speedup": r["speedup"]} for r in rows},
                "rows": rows,
            },  # fmt: skip
            profile="none",
            dataset="random-tensors",
            command=script_command("benchmarks/bench_ops.py"),
            title=f"GMIQA graph and SC-branch operations, previous vs current ({dev})",
            notes="One run; previous = the code path before issue 13, in the same process.",
            provenance_block=provenance(device=str(dev), cpu_threads=torch.get_num_threads()),
        )
        print(f"# wrote {write_result(out, result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
