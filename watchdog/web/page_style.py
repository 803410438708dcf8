"""The status page's stylesheet, inline so the page needs nothing but itself.

Colours come in pairs of text on a tinted background, each pair at least 4.5:1 in both the
light and the dark scheme; every colour also has a word beside it (the level, the result).
"""

from __future__ import annotations

STYLE = """
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;
--panel:#f6f8fa;--link:#0550ae;--ok:#116329;--ok-bg:#dafbe1;--warning:#7d4e00;
--warning-bg:#fff1c2;--critical:#a40e26;--critical-bg:#ffe3e6;--unknown:#4b4b6b;
--unknown-bg:#e8e8f2;--m-ok:#2da44e;--m-warning:#d4a72c;--m-critical:#cf222e;
--track:#eaeef2;--line-chart:#0969da}
@media (prefers-color-scheme: dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9da7b3;
--line:#30363d;--panel:#161b22;--link:#79c0ff;--ok:#56d364;--ok-bg:#0f2d17;
--warning:#e3b341;--warning-bg:#332605;--critical:#ff8e86;--critical-bg:#3d0f14;
--unknown:#c0c0dc;--unknown-bg:#25253a;--m-ok:#3fb950;--m-warning:#d29922;
--m-critical:#f85149;--track:#21262d;--line-chart:#58a6ff}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1100px;padding:.75rem;background:var(--bg);color:var(--fg);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
a{color:var(--link)}h1{font-size:1.3rem;margin:.2rem 0}
h2{font-size:1.15rem;margin:0}h3{font-size:1rem;margin:1rem 0 .3rem}
.meta,.muted,small{color:var(--muted)}
.lvl{display:inline-block;padding:0 .45em;border-radius:.3em;font-weight:700;
border:1px solid currentColor}
.l-ok{color:var(--ok);background:var(--ok-bg)}
.l-warning{color:var(--warning);background:var(--warning-bg)}
.l-critical{color:var(--critical);background:var(--critical-bg)}
.l-unknown{color:var(--unknown);background:var(--unknown-bg)}
#verdict{font-size:1.25rem;padding:.6rem .8rem;border-radius:.4rem;margin:.5rem 0;
border:2px solid currentColor;font-weight:700}
#verdict span{font-weight:400;color:var(--fg)}
section{margin:1rem 0}
#alerts ul{list-style:none;padding:0;margin:.3rem 0}
.alert{border-left:.35rem solid var(--line);background:var(--panel);padding:.45rem .7rem;
margin:.35rem 0;border-radius:.25rem;overflow-wrap:anywhere}
.alert.s-critical{border-left-color:var(--m-critical)}
.alert.s-warning{border-left-color:var(--m-warning)}
.alert[data-state=pending]{border-left-style:dashed}
.alert[data-state=resolved]{opacity:.75;border-left-color:var(--line)}
.alert .when,.alert .desc{font-size:.9rem}.alert .desc{color:var(--muted)}
.calm{padding:.5rem .8rem;border-radius:.4rem}
.target{border:1px solid var(--line);border-radius:.5rem;padding:.7rem .8rem}
.target.lv-critical{border-left:.35rem solid var(--m-critical)}
.target.lv-warning{border-left:.35rem solid var(--m-warning)}
.target.lv-unknown{border-left:.35rem solid var(--unknown)}
.verdict{display:inline-block;margin:.2rem .3rem .2rem 0;padding:0 .45em;border-radius:.3em;
font-weight:700;border:1px solid currentColor}
.facts{display:flex;flex-wrap:wrap;gap:.25rem 1rem;margin:.4rem 0;padding:0;list-style:none;
font-size:.92rem}
.badge{display:inline-block;padding:0 .4em;border-radius:.3em;font-size:.85rem;
font-weight:700;border:1px solid currentColor}
.deprecated{color:var(--warning);background:var(--warning-bg);border-width:2px}
.notice{padding:.35rem .6rem;border-radius:.3rem;margin:.3rem 0;overflow-wrap:anywhere}
.strips{display:grid;grid-template-columns:minmax(6rem,auto) 1fr;gap:.3rem .6rem;
align-items:center}
.strips .label{font-size:.85rem}
@media (max-width:600px){.strips{grid-template-columns:1fr;gap:.1rem}
.strips .label{margin-top:.3rem}}
svg{display:block;width:100%;overflow:hidden}
svg.strip{height:22px}svg.chart{height:40px;border-bottom:1px solid var(--line)}
.track{fill:var(--track)}.m-ok{fill:var(--m-ok)}.m-warning{fill:var(--m-warning)}
.m-critical{fill:var(--m-critical)}
polyline{fill:none;stroke:var(--line-chart);stroke-width:1.5}
.axis{display:flex;justify-content:space-between;font-size:.75rem;color:var(--muted)}
table.queues td{vertical-align:middle}
.qv{display:inline-block;min-width:3.5em;text-align:right;font-weight:700;
font-variant-numeric:tabular-nums}
svg.spark{display:inline-block;vertical-align:middle;width:7rem;height:1.4rem;margin:0 .4rem;
border-bottom:1px solid var(--line)}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.3rem 0;font-size:.88rem}
td,th{border:1px solid var(--line);padding:.2rem .5rem;text-align:left;white-space:nowrap}
th{background:var(--panel)}td.r-ok{color:var(--ok)}td.r-warning{color:var(--warning)}
td.r-critical{color:var(--critical)}td.r-unknown{color:var(--unknown)}
td.wrap{white-space:normal;overflow-wrap:anywhere;min-width:14rem}
.meta-error+.meta-error,.info+.info{margin-top:.3rem}.solution{font-weight:600}
table.entities{min-width:min(100%,32rem)}table.entities tr.said td{max-width:40rem}
svg.usage{display:inline-block;vertical-align:middle;width:6rem;height:.8rem;margin:0 .3rem}
svg.usage line.limit{stroke:var(--fg);stroke-width:2}
"""
