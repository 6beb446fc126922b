# bench/lib/report.awk — the Markdown tables of bench/run.sh.
#
# input: results.tsv, one line per run:
#   workload alloc round seconds peak-RSS-KiB exit-status result-line other-load
# (seconds is FAIL for a failed run)
# variables (-v): benches, allocs (space-separated, in table order), ours (the
#   workloads that are our own programs, for the group geomeans), time_target,
#   slow_target, rss_target (the targets' factors)
# output: the time table, the RSS table, the targets. A run.sh grep looks for
# MISMATCH, unstable and FAILED in it.
BEGIN { FS = "\t" }

function fmt_r(x) { return x == "" ? "n/a" : sprintf("%.2f", x) }
function fmt_v(x, what) {
  if (x == "") return "n/a"
  return what == "time" ? sprintf("%.3f", x) : sprintf("%.1f", x / 1024)
}
function val(b, a, what) { return what == "time" ? T[b SUBSEP a] : M[b SUBSEP a] }
# geomean of one allocator's values over the workloads of a group
function geo(a, what, grp,    i, s, n, one) {
  s = 0; n = 0
  for (i = 1; i <= nb; i++) {
    if (!complete[B[i]] || !ingroup(B[i], grp)) continue
    one = val(B[i], a, what); s += log(one); n++
  }
  return n == 1 ? one : n ? exp(s / n) : "" # one value: itself, not exp(log()) rounded
}
function ngroup(grp,    i, n) {
  n = 0
  for (i = 1; i <= nb; i++) if (complete[B[i]] && ingroup(B[i], grp)) n++
  return n
}
function ingroup(b, grp) { return grp == "all" || (grp == "ours") == (b in OURS) }
# best peer (lowest value) of workload b, or of the geomeans of a group
function best_peer(b, what, grp,    j, x, best, bv) {
  best = ""; bv = ""
  for (j = 1; j <= na; j++) {
    if (A[j] == "gomalloc") continue
    x = grp == "" ? val(b, A[j], what) : geo(A[j], what, grp)
    if (x != "" && (bv == "" || x < bv)) { bv = x; best = A[j] }
  }
  BEST_VALUE = bv
  return best
}

{
  key = $1 SUBSEP $2
  if ($4 == "FAIL") { failed[key]++; next }
  times[key] = times[key] " " $4
  rsss[key] = rsss[key] " " $5
  if (!(($1 SUBSEP $7) in seen)) { seen[$1 SUBSEP $7] = 1; nlines[$1]++ }
  lineof[key] = lineof[key] == "" ? $7 : (lineof[key] == $7 ? $7 : "\001")
}

END {
  nb = split(benches, B, " "); na = split(allocs, A, " ")
  split(ours, O, " "); for (i in O) OURS[O[i]] = 1
  hasmi = 0; hasgm = 0; npeers = 0
  for (j = 1; j <= na; j++) {
    if (A[j] == "mimalloc") hasmi = 1
    if (A[j] == "gomalloc") hasgm = 1; else npeers++
  }
  for (i = 1; i <= nb; i++) {
    complete[B[i]] = 1
    for (j = 1; j <= na; j++) {
      k = B[i] SUBSEP A[j]
      T[k] = median(times[k]); M[k] = median(rsss[k])
      if (T[k] == "" || T[k] + 0 <= 0 || M[k] == "" || M[k] + 0 <= 0) complete[B[i]] = 0
    }
  }
  nours = ngroup("ours"); nreal = ngroup("real"); nall = ngroup("all")

  # result lines: each workload's reference line is the one most allocators
  # gave (every round alike); failed runs, allocators whose line changed from
  # round to round (unstable) and those with another line (MISMATCH) are
  # named in the result column, and gomalloc's in the targets.
  for (i = 1; i <= nb; i++) {
    b = B[i]; status = ""; ref = ""; refn = 0
    for (j = 1; j <= na; j++) {
      k = b SUBSEP A[j]
      if (k in failed) { status = status (status == "" ? "" : ", ") "FAILED: " A[j] " x" failed[k]; WRONG[k] = 1 }
      if (lineof[k] == "\001") { status = status (status == "" ? "" : ", ") "unstable: " A[j]; WRONG[k] = 1 }
      if (lineof[k] == "" || lineof[k] == "\001") continue
      c = 0
      for (jj = 1; jj <= na; jj++) if (lineof[b SUBSEP A[jj]] == lineof[k]) c++
      if (c > refn) { refn = c; ref = lineof[k] }
    }
    if (nlines[b] > 1) {
      bad = ""
      for (j = 1; j <= na; j++) {
        k = b SUBSEP A[j]
        if (lineof[k] != "" && lineof[k] != "\001" && lineof[k] != ref) { bad = bad " " A[j]; WRONG[k] = 1 }
      }
      if (bad != "") status = status (status == "" ? "" : ", ") "MISMATCH:" bad
    }
    STATUS[b] = status == "" ? "ok" : status
  }

  for (what = 1; what <= 2; what++) {
    w = what == 1 ? "time" : "rss"
    if (what == 1)
      printf "Median wall time in seconds%s:\n\n", hasmi ? " (ratio to mimalloc)" : ""
    else
      printf "\nMedian peak RSS in MiB%s:\n\n", hasmi ? " (ratio to mimalloc)" : ""
    printf "| workload |"
    for (j = 1; j <= na; j++) printf " %s |", A[j]
    printf " %s | %s |", w == "time" ? "fastest peer" : "lowest peer", "gomalloc ÷ it"
    if (w == "time") printf " result |"
    printf "\n|---|"
    for (j = 1; j <= na; j++) printf "---:|"
    printf "---|---:|"
    if (w == "time") printf "---|"
    printf "\n"
    for (i = 1; i <= nb; i++) {
      b = B[i]
      printf "| %s |", b
      for (j = 1; j <= na; j++) {
        k = b SUBSEP A[j]
        x = val(b, A[j], w)
        if (x == "" && (k in failed)) { printf " FAIL |"; continue }
        printf " %s", fmt_v(x, w)
        if (hasmi && x != "") printf " (%s)", fmt_r(ratio(x, val(b, "mimalloc", w)))
        printf " |"
      }
      p = best_peer(b, w, "")
      r = ratio(val(b, "gomalloc", w), BEST_VALUE)
      # three decimals where two would hide which side of the target it is
      rs = fmt_r(r)
      if (w == "time" && r != "" && rs + 0 == slow_target + 0 && r != slow_target) {
        rs = sprintf("%.3f", r)
        if (rs + 0 == slow_target + 0) rs = sprintf("%.4f", r)
      }
      printf " %s | %s", p == "" ? "n/a" : p " " fmt_v(BEST_VALUE, w), rs
      if (w == "time" && r != "") printf " %s", r <= slow_target ? "✓" : "✗"
      printf " |"
      if (w == "time") printf " %s |", STATUS[b]
      printf "\n"
    }
    # geomean rows: our programs, the real programs, all (over the workloads
    # every allocator completed)
    ng = 0
    if (nours && nreal) { G[++ng] = "ours"; GN["ours"] = "geomean, our programs (" nours ")" }
    if (nours && nreal) { G[++ng] = "real"; GN["real"] = "geomean, real programs (" nreal ")" }
    G[++ng] = "all"; GN["all"] = "**geomean" (ng > 1 ? ", all (" nall ")" : "") "**"
    for (g = 1; g <= ng; g++) {
      grp = G[g]
      printf "| %s |", GN[grp]
      for (j = 1; j <= na; j++) {
        x = geo(A[j], w, grp)
        printf " %s", fmt_v(x, w)
        if (hasmi && x != "") printf " (%s)", fmt_r(ratio(x, geo("mimalloc", w, grp)))
        printf " |"
      }
      p = best_peer("", w, grp)
      printf " %s | %s |", p == "" ? "n/a" : p " " fmt_v(BEST_VALUE, w), fmt_r(ratio(geo("gomalloc", w, grp), BEST_VALUE))
      if (w == "time") printf " |"
      printf "\n"
    }
  }

  # ---- the targets ----
  printf "\nTargets for gomalloc (over the %d workload(s) every allocator completed):\n\n", nall
  if (!hasgm || nall == 0) { printf "n/a: gomalloc %s.\n", hasgm ? "completed no workload" : "was not run"; exit }
  printf "| target | measured | verdict |\n|---|---|---|\n"
  # 0. correct results: every gomalloc run completed with the peers' result line
  wrong = ""
  for (i = 1; i <= nb; i++) if ((B[i] SUBSEP "gomalloc") in WRONG) wrong = wrong (wrong == "" ? "" : ", ") B[i] " (" STATUS[B[i]] ")"
  printf "| every run completes with the same result line as the peers | %s | %s |\n",
    wrong == "" ? "all " nb " workload(s)" : "wrong or failed: " wrong, wrong == "" ? "met" : "**not met**"
  # 1. geomean time vs mimalloc
  if (hasmi) {
    r = ratio(geo("gomalloc", "time", "all"), geo("mimalloc", "time", "all"))
    printf "| geomean time ≤ %.2f× mimalloc | %.3f× | %s |\n", time_target, r, r <= time_target ? "met" : "**not met**"
  } else
    printf "| geomean time ≤ %.2f× mimalloc | mimalloc not run | n/a |\n", time_target
  # 2. every workload within slow_target of its fastest peer
  over = ""; nover = 0; worst = ""; wr = 0
  for (i = 1; i <= nb; i++) {
    b = B[i]
    if (!complete[b]) continue
    p = best_peer(b, "time", "")
    r = ratio(T[b SUBSEP "gomalloc"], BEST_VALUE)
    if (r > wr) { wr = r; worst = b " " sprintf("%.2f", r) "× " p }
    if (r > slow_target) { nover++; over = over (over == "" ? "" : ", ") b " " sprintf("%.2f", r) "×" }
  }
  if (npeers == 0)
    printf "| no workload slower than %.2f× the fastest peer | no peer run | n/a |\n", slow_target
  else
    printf "| no workload slower than %.2f× the fastest peer | worst: %s%s | %s |\n", slow_target, worst,
      nover ? "; over: " over : "", nover ? sprintf("**not met** (%d of %d)", nover, nall) : "met"
  # 3. geomean RSS vs the lowest peer's geomean RSS
  if (npeers == 0) printf "| geomean peak RSS ≤ %.2f× the lowest peer | no peer run | n/a |\n", rss_target
  else {
    p = best_peer("", "rss", "all")
    pv = BEST_VALUE
    r = ratio(geo("gomalloc", "rss", "all"), pv)
    s = 0; n = 0
    for (i = 1; i <= nb; i++) {
      b = B[i]
      if (!complete[b]) continue
      best_peer(b, "rss", "")
      s += log(M[b SUBSEP "gomalloc"] / BEST_VALUE); n++
    }
    printf "| geomean peak RSS ≤ %.2f× the lowest peer | %.1f MiB = %.3f× %s's %.1f MiB (the peer with the lowest geomean); against the lowest peer of each workload, the geomean ratio is %.3f× | %s |\n",
      rss_target, geo("gomalloc", "rss", "all") / 1024, r, p, pv / 1024, exp(s / n),
      r <= rss_target ? "met" : "**not met**"
  }
}
