# An independent NAB scorer, written from the rules in the development set's README, for checking
# the per-row files of `smartcloudops detect eval --out DIR`: it reads only the files and the
# labels and prints the three profiles' normalised scores and event-level F1 at one threshold.
#
#   python3 nabscore.py NAB_DIR RESULTS_DIR THRESHOLD
import csv, json, math, os, sys
from datetime import datetime
nab = sys.argv[1]; res = sys.argv[2]; thr = float(sys.argv[3])
wins = json.load(open(os.path.join(nab, 'labels/combined_windows.json')))
prof = {'standard': (1.0, 0.11, 1.0), 'reward_low_FP_rate': (1.0, 0.22, 1.0), 'reward_low_FN_rate': (1.0, 0.11, 2.0)}
def sig(y):
    return -1.0 if y > 3 else 2/(1+math.exp(5*y))-1
def pt(s):
    s = s.strip()
    for f in ('%Y-%m-%d %H:%M:%S.%f', '%Y-%m-%d %H:%M:%S'):
        try: return datetime.strptime(s, f)
        except ValueError: pass
    raise ValueError(s)
tot = {k: 0.0 for k in prof}; nw = 0; TP=FN=FP=0
for key, ws in sorted(wins.items()):
    cat, fn = key.split('/')
    path = os.path.join(res, cat, 'smartcloudops_' + fn)
    if not os.path.exists(path):
        continue
    rows = list(csv.DictReader(open(path)))
    ts = [pt(r['timestamp']) for r in rows]; sc = [float(r['anomaly_score']) for r in rows]
    n = len(rows); prob = min(int(math.floor(0.15*n)), 750)
    idx = [(ts.index(pt(a)), ts.index(pt(b))) for a, b in ws]
    cls = [-1]*n
    for w, (l, r) in enumerate(idx):
        for i in range(l, r+1): cls[i] = w
    # per profile
    scoredw = sorted(set(cls[i] for i in range(prob, n) if cls[i] >= 0))
    nw += len(scoredw)
    for k, (atp, afp, afn) in prof.items():
        best = {w: -afn for w in scoredw}
        s = 0.0
        for i in range(prob, n):
            if sc[i] < thr: continue
            c = cls[i]
            if c >= 0:
                l, r = idx[c]; wdt = r-l+1
                best[c] = max(best[c], atp*sig(-(r-i+1)/wdt)/sig(-1))
            else:
                prev = [(l, r) for (l, r) in idx if r < i]
                if not prev: s += -afp
                else:
                    l, r = prev[-1]; wdt = r-l+1
                    s += afp*sig(abs(r-i)/(wdt-1))
        tot[k] += s + sum(best.values())
    hit = set(); inrun = False
    for i in range(prob, n):
        c = cls[i]; d = sc[i] >= thr
        if c >= 0:
            if d: hit.add(c)
            inrun = False; continue
        if d and not inrun: FP += 1
        inrun = d
    TP += len(hit); FN += len(scoredw)-len(hit)
for k, (atp, afp, afn) in prof.items():
    null = -afn*nw; perf = atp*nw
    print(k, '%.6f' % (100*(tot[k]-null)/(perf-null)))
print('events', TP, FN, FP)
