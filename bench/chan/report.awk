# bench/chan/report.awk — the Markdown tables and verdicts of bench/chan.sh
# (POSIX awk: runs under mawk).
#
# input: results.tsv, one line per run:
#   workload variant round wall-seconds peak-RSS-KiB exit-status result-line
#   other-cores user-seconds sys-seconds
# (wall-seconds is FAIL for a failed run)
# variables (-v): benches, variants (space-separated, in table order),
#   phases_file (workload variant round phase ns-per-op, one line per phase
#   of every run), buf_go_target (buffered: ns/item, times Go's),
#   ping_go_target (pingpong: ns/round trip, times Go's), quick (1 for a
#   --quick run), skipped_note (why a variant did not run, for n/a verdicts)
# output: the tables, the result-line check, the verdicts. chan.sh greps the
# output for MISMATCH and FAILED.
BEGIN {
  FS = "\t"
  VNAME["gomalloc"] = "gomalloc"; VNAME["go"] = "Go"; VNAME["moodycamel"] = "moodycamel"
  while ((getline line < phases_file) > 0) {
    split(line, f, "\t")
    k = f[1] SUBSEP f[2]
    nsop[k] = nsop[k] " " f[5]
    phname[f[1]] = f[4]
  }
  close(phases_file)
}

function fr(x) { return x == "" ? "n/a" : sprintf("%.2f", x) }
function fns(x) { return x == "" ? "n/a" : (x + 0 < 10 ? sprintf("%.2f", x) : (x + 0 < 1000 ? sprintf("%.1f", x) : sprintf("%.0f", x))) }
function frate(x) { return x == "" ? "n/a" : sprintf("%.2f", 1000 / x) }
function fs(x) { return x == "" ? "n/a" : sprintf("%.3f", x) }
function fmib(x) { return x == "" ? "n/a" : sprintf("%.1f", x / 1024) }
function add(arr, k, v) { if (v != "-" && v != "") arr[k] = arr[k] " " v }
function ok(x, t) { return x == "" ? "n/a" : (x + 0 <= t + 0 ? "✓" : "✗") }
function target_of(b) { return b == "pingpong" ? ping_go_target : (b ~ /^buf-/ ? buf_go_target : "") }

{
  k = $1 SUBSEP $2
  runs[k]++
  if ($4 == "FAIL") { failed[k]++; next }
  add(walls, k, $4); add(rsss, k, $5); add(cpus, k, $9 + $10)
  if (!(($1 SUBSEP $7) in seen)) { seen[$1 SUBSEP $7] = 1; nlines[$1]++; firstline[$1] = $7 }
  lines[$1] = lines[$1] "\n  - " $2 " round " $3 ": `" $7 "`"
}

END {
  nb = split(benches, B, " "); nv = split(variants, V, " ")
  for (i = 1; i <= nb; i++) for (j = 1; j <= nv; j++) {
    k = B[i] SUBSEP V[j]
    W[k] = median(walls[k]); R[k] = median(rsss[k]); C[k] = median(cpus[k]); N[k] = median(nsop[k])
  }

  print "**Channel operations**: median ns per operation (a round trip for pingpong, a received item otherwise), measured inside each program around the phase, and the same as millions of operations per second; gm/X = gomalloc ÷ X (below 1 gomalloc is faster). Targets: buffered ≤ " buf_go_target "× Go's ns/item at every capacity and producer count; pingpong ≤ " ping_go_target "× Go's ns/round trip."
  print ""
  print "| workload | gomalloc ns | Go ns | moodycamel ns | gomalloc M/s | Go M/s | moodycamel M/s | gm/Go | gm/moodycamel | target |"
  print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  for (i = 1; i <= nb; i++) {
    b = B[i]
    ng = N[b SUBSEP "gomalloc"]; ngo = N[b SUBSEP "go"]; nm = N[b SUBSEP "moodycamel"]
    rgo = ratio(ng, ngo); rm = ratio(ng, nm)
    t = target_of(b)
    tgt = t == "" ? "–" : ok(rgo, t) " (≤ " t "× Go)"
    if (t != "") {
      verd[b] = rgo == "" ? "n/a (" why(b, "go") ")" : sprintf("%s (%.2f×: %s vs %s ns)", rgo <= t + 0 ? "met" : "NOT met", rgo, fns(ng), fns(ngo))
    }
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", b, fns(ng), fns(ngo), fns(nm),
      frate(ng), frate(ngo), frate(nm), fr(rgo), fr(rm), tgt
  }

  print ""
  print "**Processes**: median wall time in seconds (CPU time, all threads, in parentheses: time spent spinning and in the kernel shows here) and peak RSS (`ru_maxrss`) in MiB of the whole process; RSS gm/X = gomalloc's peak RSS ÷ X's."
  print ""
  print "| workload | gomalloc s | Go s | moodycamel s | gomalloc MiB | Go MiB | moodycamel MiB | RSS gm/Go | RSS gm/moodycamel |"
  print "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for (i = 1; i <= nb; i++) {
    b = B[i]
    line = "| " b
    for (j = 1; j <= nv; j++) line = line " | " cell(b SUBSEP V[j])
    for (j = 1; j <= nv; j++) line = line " | " fmib(R[b SUBSEP V[j]])
    for (j = 2; j <= nv; j++) line = line " | " fr(ratio(R[b SUBSEP "gomalloc"], R[b SUBSEP V[j]]))
    print line " |"
  }

  print ""
  print "Result lines (the same for every variant and round unless listed run by run; each program also checks that it received every item exactly once):"
  print ""
  for (i = 1; i <= nb; i++) {
    b = B[i]
    nf = 0; for (j = 1; j <= nv; j++) nf += failed[b SUBSEP V[j]]
    fl = nf ? sprintf(" (%d run(s) FAILED)", nf) : ""
    if (nlines[b] == 0) printf "- %s: FAILED: no run completed\n", b
    else if (nlines[b] == 1) printf "- %s: `%s`%s\n", b, firstline[b], fl
    else printf "- %s: MISMATCH:%s%s\n", b, lines[b], fl
  }

  print ""
  print "Verdicts" (quick == 1 ? " (--quick: judged at the quick sizes, not for comparison)" : "") ":"
  print ""
  nverd = 0; nbuf = 0; nbufmet = 0; nbufna = 0
  for (i = 1; i <= nb; i++) {
    b = B[i]
    if (b != "pingpong") continue
    nverd++
    printf "- pingpong, ns per round trip ≤ %s× Go: %s\n", ping_go_target, verd[b]
  }
  for (i = 1; i <= nb; i++) {
    b = B[i]
    if (b !~ /^buf-/) continue
    nverd++; nbuf++
    if (verd[b] ~ /^met/) nbufmet++
    if (verd[b] ~ /^n\/a/) nbufna++
    printf "- %s, ns per item ≤ %s× Go: %s\n", b, buf_go_target, verd[b]
  }
  if (nbuf > 0)
    printf "- buffered throughput ≥ Go's everywhere: %s (%d of %d workloads met%s)\n",
      nbufna == nbuf ? "n/a" : (nbufmet == nbuf ? "met" : "NOT met"), nbufmet, nbuf, nbufna ? sprintf(", %d n/a", nbufna) : ""
  if (nverd == 0) print "- (no judged workload in this run)"
}

function cell(k) {
  if (!(k in runs)) return "n/a"
  if (W[k] == "") return sprintf("FAILED (%d of %d)", failed[k], runs[k])
  return sprintf("%s (%.2f)%s", fs(W[k]), C[k], failed[k] ? sprintf(" (%d FAILED)", failed[k]) : "")
}

# why a ratio of gomalloc to variant v on workload b is missing
function why(b, v,    g, o) {
  g = (b SUBSEP "gomalloc") in runs && W[b SUBSEP "gomalloc"] != ""
  o = (b SUBSEP v) in runs && W[b SUBSEP v] != ""
  if (!g && !o) return "neither gomalloc nor " VNAME[v] " ran"
  return (g ? VNAME[v] : "gomalloc") " did not run"
}
