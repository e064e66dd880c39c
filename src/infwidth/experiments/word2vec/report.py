"""Word2Vec results for people: the results table and the PCA panels' choice and names (used by CLI and tour)."""

from __future__ import annotations


def results_table(results: dict) -> str:
    """Markdown table: model, width, analogy accuracy, loss, updates, words/s, embedding movement."""
    rows = [
        "| model | width | analogy % | evaluated | final loss | updates | words/s | embedding moved |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for spec, r in results.items():
        a = r.get("analogy", {})
        rows.append(
            f"| {spec} | {r.get('width', '?'):,} | {100 * a.get('accuracy', float('nan')):.2f} | "
            f"{a.get('total', {}).get('evaluated', 0):,} | {r['loss']:.4f} | {r['updates']:,} | "
            f"{r['words_per_second']:,.0f} | {r['embedding_movement']:.3f} |"
        )
    return "\n".join(rows)


def default_panels(specs: list[str]) -> list[str]:
    """NTK, the narrowest muP width, the limit -- those present, in that order."""
    ntk = [s for s in specs if s.startswith("ntk")]
    mup = sorted((s for s in specs if s.startswith("mup:")), key=lambda s: int(s.split(":")[1]))
    chosen = ntk[:1] + mup[:1] + [s for s in specs if s == "limit"]
    return chosen or specs[:3]


def panel_name(spec: str) -> str:
    if spec == "limit":
        return "muP limit"
    if spec.startswith("ntk"):
        return f"NTK, width {spec.split(':')[1]} (frozen)" if ":" in spec else "NTK limit (frozen identity)"
    kind, _, width = spec.partition(":")
    return f"{'muP' if kind == 'mup' else 'SP'} width {width}"
