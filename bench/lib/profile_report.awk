# bench/lib/profile_report.awk — the tables of bench/profile.sh.
#
# Input: the runs, one per line, tab-separated (bench/lib/suite.sh's results.tsv):
#   workload variant round wall-s rss-KiB exit-status result-line other-cores user-s sys-s
# (wall and rss are FAIL for a failed run; exit status 137 is a time-out).
# Variables: benches (workloads, in order), variants (those that ran),
# anchor_timeout (seconds: tc-heapprof runs are cut there), target (the
# largest on/off ratio the issue allows, 1.02), rate (GOMALLOC_PROFILE_RATE of
# the "on" runs, "" for the default), and profiles (a file of "workload variant round files bytes gzip-ok" lines, one
# per profiled run that succeeded).
#
# Medians are over the rounds; a run that timed out counts as longer than any
# that finished, so a median that falls on one prints as ">T" (and a ratio to
# it as ">R"). A ratio is the median over the rounds of the ratio of the two
# runs of the same round (paired: the machine's speed drifts from round to
# round more than the effects measured here, and both runs of a round are at
# most minutes apart); the spread table gives those per-round ratios' range.

function median(w, v,    n, i, j, a, t, k) {
  n = 0
  for (k = 1; k <= nrounds[w, v]; k++) a[++n] = tv[w, v, k]
  if (n == 0) return ""
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  if (n % 2) return a[(n + 1) / 2]
  return (a[n / 2 + 1] >= BIG) ? BIG : (a[n / 2] + a[n / 2 + 1]) / 2 # a time-out in the middle: a lower bound
}
function rmedian(w, v,    n, i, j, a, t, k) {
  n = 0
  for (k = 1; k <= nrss[w, v]; k++) a[++n] = rv[w, v, k]
  if (n == 0) return ""
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
# a median time in ms ("" when the variant did not run, "FAIL" when no run finished)
function ms(m) {
  if (m == "") return "–"
  if (m == "FAIL") return "FAIL"
  if (m + 0 >= BIG) return ">" sprintf("%.0f", anchor_timeout * 1000)
  return sprintf("%.0f", m * 1000)
}
function mib(k) { return (k == "") ? "–" : sprintf("%.1f", k / 1024) }
function ok(m) { return m != "" && m != "FAIL" }
# the median time of (w, v): "" (not run), "FAIL" (every run failed), or seconds (BIG for a time-out)
function med(w, v) { if (!((w, v) in seen)) return ""; if (nrounds[w, v] == 0) return "FAIL"; return median(w, v) }
# "min … max" of the per-round ratios a/b of workload w
function spread(w, a, b,    r, lo, hi, n, x) {
  n = 0
  for (r = 1; r <= maxround; r++) {
    if (!((w, a, r) in rt) || !((w, b, r) in rt)) continue
    if (rt[w, a, r] >= BIG) continue
    x = rt[w, a, r] / rt[w, b, r]
    if (n == 0 || x < lo) lo = x
    if (n == 0 || x > hi) hi = x
    n++
  }
  if (n == 0) return "–"
  return (n == 1) ? sprintf("%.3f", lo) : sprintf("%.3f … %.3f", lo, hi)
}
# the median over the rounds of a's time / b's time in the same round: ""
# when no round has both; a time-out of a counts as above any ratio, and a
# median that falls on one is BIG
function pmedian(w, a, b,    r, n, x, i, j, t) {
  n = 0
  for (r = 1; r <= maxround; r++) {
    if (!((w, a, r) in rt) || !((w, b, r) in rt) || rt[w, b, r] >= BIG) continue
    x[++n] = (rt[w, a, r] >= BIG) ? BIG : rt[w, a, r] / rt[w, b, r]
  }
  if (n == 0) return ""
  for (i = 2; i <= n; i++) { t = x[i]; for (j = i - 1; j >= 1 && x[j] > t; j--) x[j + 1] = x[j]; x[j + 1] = t }
  if (n % 2) return x[(n + 1) / 2]
  return (x[n / 2 + 1] >= BIG) ? BIG : (x[n / 2] + x[n / 2 + 1]) / 2
}
# that median, formatted with DIGITS decimals ("FAIL", "–"; ">R" for a
# time-out: the time-out over b's median time)
function pratio(w, a, b, digits,    x) {
  x = pmedian(w, a, b)
  if (x == "") return (med(w, a) == "FAIL" || med(w, b) == "FAIL") ? "FAIL" : "–"
  if (x >= BIG) { x = anchor_timeout / med(w, b); return ">" ((x >= 10) ? sprintf("%.0f", x) : sprintf("%.1f", x)) }
  return (x >= 10) ? sprintf("%.0f", x) : sprintf("%." digits "f", x)
}
# the log of pmedian, for a geomean (a time-out: the time-out over b's
# median time, and glow[a] set: the geomean is a lower bound)
function glog(w, a, b,    x) {
  x = pmedian(w, a, b)
  if (x >= BIG) { glow[a]++; x = anchor_timeout / med(w, b) }
  return log(x)
}

BEGIN {
  FS = "\t"
  BIG = 1e9
  nb = split(benches, B, " ")
  if (target == "") target = 1.02
}

{
  w = $1; v = $2; r = $3 + 0
  seen[w, v] = 1
  if (r > maxround) maxround = r
  if ($4 == "FAIL") {
    if ($6 == 137 && v == "tc-heapprof") { tv[w, v, ++nrounds[w, v]] = BIG; rt[w, v, r] = BIG; timeouts[w]++ }
    else failed[w, v]++
    next
  }
  tv[w, v, ++nrounds[w, v]] = $4 + 0
  rv[w, v, ++nrss[w, v]] = $5 + 0
  rt[w, v, r] = $4 + 0
  if (!(w in line)) line[w] = $7
  else if (line[w] != $7) mismatch[w] = 1
}

END {
  # profiles written, per profiling variant
  if (profiles != "") {
    while ((getline l < profiles) > 0) {
      split(l, f, "\t")
      pv = f[2]; pruns[pv]++
      if (f[4] + 0 > 0) pwith[pv]++
      pfiles[pv] += f[4]; pbytes[pv] += f[5]
      if (f[6] == "bad") pbad[pv]++
    }
  }

  print "| workload | before ms | off ms | off/before | on ms | on/off | gperftools on/off | tcmalloc sampled/off | jemalloc on/off | RSS before MiB | RSS off MiB | RSS on MiB | RSS on/off | result |"
  print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  ng = 0
  for (i = 1; i <= nb; i++) {
    w = B[i]
    mb = med(w, "before"); mo = med(w, "off"); mn = med(w, "on")
    rb = rmedian(w, "before"); ro = rmedian(w, "off"); rn = rmedian(w, "on")
    res = "ok"
    for (k in failed) { split(k, kk, SUBSEP); if (kk[1] == w) res = "FAILED" }
    if (mismatch[w]) res = "MISMATCH"
    if (!(w in line)) res = "FAILED"
    tflag = ""
    if (pmedian(w, "on", "off") != "" && pmedian(w, "on", "off") > target) { tflag = " ✗"; over[w] = 1 }
    printf "| %s | %s | %s | %s | %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s |\n", w,
      ms(mb), ms(mo), pratio(w, "off", "before", 3), ms(mn), pratio(w, "on", "off", 3), tflag,
      pratio(w, "tc-heapprof", "tc", 2), pratio(w, "tc-sample", "tc", 3), pratio(w, "je-prof", "je", 3),
      mib(rb), mib(ro), mib(rn), (ro != "" && rn != "") ? sprintf("%.3f", rn / ro) : "–", res
    # geomeans over the workloads where before, off and on all finished
    if (ok(mb) && ok(mo) && ok(mn) && rb != "" && ro != "" && rn != "" &&
        pmedian(w, "off", "before") != "" && pmedian(w, "on", "off") != "") {
      ng++
      gb += log(mb); go += log(mo); gn += log(mn); grb += log(rb); gro += log(ro); grn += log(rn)
      gob += glog(w, "off", "before"); gno += glog(w, "on", "off")
    }
    if (pmedian(w, "tc-heapprof", "tc") != "") { ngt++; gt += glog(w, "tc-heapprof", "tc") }
    if (pmedian(w, "tc-sample", "tc") != "") { ngs++; gs += glog(w, "tc-sample", "tc") }
    if (pmedian(w, "je-prof", "je") != "") { ngj++; gj += glog(w, "je-prof", "je") }
  }
  if (ng > 0) {
    printf "| **geomean** | %.0f | %.0f | **%.3f** | %.0f | **%.3f** | %s | %s | %s | %.1f | %.1f | %.1f | %.3f | |\n",
      exp(gb / ng) * 1000, exp(go / ng) * 1000, exp(gob / ng), exp(gn / ng) * 1000, exp(gno / ng),
      (ngt > 0) ? ((glow["tc-heapprof"] ? ">" : "") sprintf((exp(gt / ngt) >= 10) ? "%.0f" : "%.2f", exp(gt / ngt))) : "–",
      (ngs > 0) ? sprintf("%.3f", exp(gs / ngs)) : "–", (ngj > 0) ? sprintf("%.3f", exp(gj / ngj)) : "–",
      exp(grb / ng) / 1024, exp(gro / ng) / 1024, exp(grn / ng) / 1024, exp((grn - gro) / ng)
  }
  print ""
  print "Median wall time (ms) and peak RSS (MiB) over the rounds. **before**: gomalloc built from the commit before the profiler, **off**: this tree, profiling off, **on**: this tree with `GOMALLOC_PROFILE` (" (rate == "" ? "default rate, one sample per 512 KiB" : "GOMALLOC_PROFILE_RATE=" rate) ", profile written at exit). Each ratio is the median over the rounds of the ratio of the two runs of one round (paired: the machine's speed drifts between rounds more than the effects measured), so it need not equal the quotient of the medians shown. Anchors, each against the same library unprofiled in the same rounds: gperftools = `libtcmalloc.so.4` with `HEAPPROFILE` (records every allocation), tcmalloc sampled = the same with `TCMALLOC_SAMPLE_PARAMETER=524288` (nothing written), jemalloc = `libjemalloc.so.2` with `MALLOC_CONF=prof:true,lg_prof_sample:19,prof_final:true`. \">N\": runs cut at " anchor_timeout " s. ✗: on/off above the target " target "."

  # the anchors' own medians
  print ""
  print "| workload | tcmalloc ms | + HEAPPROFILE ms | + sampled ms | jemalloc ms | + prof ms | tcmalloc MiB | + HEAPPROFILE MiB | jemalloc MiB | + prof MiB |"
  print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for (i = 1; i <= nb; i++) {
    w = B[i]
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", w, ms(med(w, "tc")), ms(med(w, "tc-heapprof")),
      ms(med(w, "tc-sample")), ms(med(w, "je")), ms(med(w, "je-prof")), mib(rmedian(w, "tc")),
      mib(rmedian(w, "tc-heapprof")), mib(rmedian(w, "je")), mib(rmedian(w, "je-prof"))
  }

  # round by round
  print ""
  print "Per-round ratios (min … max over the rounds; each ratio of two runs of the same round):"
  print ""
  print "| workload | off/before | on/off | tcmalloc sampled/off | jemalloc on/off |"
  print "|---|---:|---:|---:|---:|"
  for (i = 1; i <= nb; i++) {
    w = B[i]
    printf "| %s | %s | %s | %s | %s |\n", w, spread(w, "off", "before"), spread(w, "on", "off"),
      spread(w, "tc-sample", "tc"), spread(w, "je-prof", "je")
  }

  print ""
  n_over = 0; lst = ""
  for (i = 1; i <= nb; i++) if (B[i] in over) { n_over++; lst = lst (lst == "" ? "" : ", ") B[i] }
  if (ng > 0) {
    printf "Target 1, profiling at the default rate costs at most %.0f%% (on/off ≤ %s): %s (geomean on/off %.3f).\n",
      (target - 1) * 100, target, (n_over == 0) ? "met on every workload" : "not met on " lst, exp(gno / ng)
    printf "Target 2, no measurable cost with profiling off: off/before geomean %.3f (the spread table shows the round-to-round noise).\n",
      exp(gob / ng)
  }
  split("on tc-heapprof je-prof", PV, " ")
  split("gomalloc gperftools jemalloc", PN, " ")
  for (j = 1; j <= 3; j++) {
    pv = PV[j]
    if (!(pv in pruns)) continue
    printf "Profiles written (%s): %d of %d runs wrote %d file(s), %.1f KiB per run on average%s.\n",
      PN[j], pwith[pv], pruns[pv], pfiles[pv], pbytes[pv] / pruns[pv] / 1024,
      (pv == "on") ? sprintf(", %d run(s) with a file that is not valid gzip", pbad[pv] + 0) : ""
  }
  for (i = 1; i <= nb; i++) if (timeouts[B[i]]) printf "gperftools' HEAPPROFILE run of %s cut at %s s (then not run again).\n", B[i], anchor_timeout
}
