#!/usr/bin/env python3
"""Regenerates the indicator tables in README.md from operators/src/indicators/registry.rs.
Run from the repository root after adding an indicator; tests/talib_golden.rs checks that the
table names every indicator."""
import re
src=open('operators/src/indicators/registry.rs').read()
src=src[src.index('pub static INDICATORS'):]
consts={ 'PERIOD_30':[('timeperiod','30')], 'PERIOD_14':[('timeperiod','14')], 'PERIOD_10':[('timeperiod','10')], 'NONE':[], 'FAST_SLOW':[('fastperiod','12'),('slowperiod','26')]}
rows=[]; extra=[]
for block in src.split('Definition {')[1:]:
    name=re.search(r'name: "([^"]+)"',block).group(1)
    desc=re.search(r'description: "([^"]+)"',block).group(1)
    pm=re.search(r'params: (\w+),',block)
    if pm: params=consts[pm.group(1)]
    else:
        params=[(a,b[:-2] if b.endswith('.0') else b) for a,b in re.findall(r'Param::(?:period|factor)\("(\w+)", ([\d.]+)',block)]
    outs=re.search(r'outputs: &\[([^\]]*)\]',block).group(1).replace('"','').split(', ')
    lb=re.search(r'lookback: \|(?:p|_)\| (.+?),\n',block).group(1)
    for i,(pn,_) in enumerate(params):
        lb=lb.replace(f'n(p, {i})',pn)
    pstr=", ".join(f"{a} ({b})" for a,b in params) or "none"
    example = name + "".join("_"+b for _,b in params)
    is_talib = 'talib: true' in block
    (rows if is_talib else extra).append(f"| `{name}` | {desc} | {pstr} | {', '.join(outs) if len(outs)>1 else 'one'} | `{example}` | `{lb}` |")
table="| name | what | parameters (TA-Lib defaults) | outputs | name at defaults | lookback |\n| --- | --- | --- | --- | --- | --- |\n"+"\n".join(rows)
head="| name | what | parameters (TA-Lib defaults) | outputs | name at defaults | lookback |\n| --- | --- | --- | --- | --- | --- |\n"
table2=head.replace("TA-Lib defaults", "defaults")+"\n".join(extra)
r=open('README.md').read()
a=r.index("| name | what |")
b=r.index("Every value is checked against TA-Lib 0.8.1")
r=r[:a]+table+"\n\nBeyond TA-Lib, tradeflow's own, each defined in words on its type in\n`operators/src/indicators/extra.rs` and property-tested against a from-scratch computation:\n\n"+table2+"\n\n"+r[b:]
open('README.md','w').write(r)
