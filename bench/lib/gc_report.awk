# bench/lib/gc_report.awk — the Markdown table and verdicts of bench/gc.sh.
#
# input: gc-results.tsv, one line per run:
#   workload variant round seconds peak-RSS-KiB exit-status result-line
#   gc-cycles pause-max-ms pause-p99-ms pause-total-ms cpu-seconds
#   gap-max-us gap-p999-us gap-p99-us gc-cpu-per-cycle-ms gc-cpu-total-ms
# (seconds is FAIL for a failed run; the gc fields are - without a gc: line,
# the gc-cpu ones without a gccpu: line; the gap fields are
# bench/lib/latency_table.awk's)
# variables (-v): benches, variants (space-separated, in table order),
#   bt_depth (binarytrees' depth in this run), bt_boehm_target,
#   bt_mimalloc_target, bt_rss_go_target, gcb_boehm_target (the factors)
# output: the table, the span / object marking ratios (the gomalloc row's
# medians over gomalloc-objmark's, for each workload that has both), the
# result-line check, the verdicts. gc.sh greps the output for MISMATCH and
# FAILED.
BEGIN { FS = "\t" }

function fr(x) { return x == "" ? "–" : sprintf("%.2f", x) }
function fms(x) { return x == "" ? "–" : (x + 0 < 10 ? sprintf("%.3f", x) : sprintf("%.1f", x)) }
function add(arr, k, v) { if (v != "-" && v != "") arr[k] = arr[k] " " v }

{
  k = $1 SUBSEP $2
  runs[k]++
  if ($4 == "FAIL") { failed[k]++; next }
  add(times, k, $4); add(rsss, k, $5); add(cyc, k, $8); add(pmax, k, $9)
  add(p99, k, $10); add(ptot, k, $11); add(cpus, k, $12); add(gcpc, k, $16); add(gctot, k, $17)
  if (!(($1 SUBSEP $7) in seen)) { seen[$1 SUBSEP $7] = 1; nlines[$1]++; firstline[$1] = $7 }
  lines[$1] = lines[$1] "\n  - " $2 " round " $3 ": `" $7 "`"
}

END {
  nb = split(benches, B, " "); nv = split(variants, V, " ")
  for (i = 1; i <= nb; i++) for (j = 1; j <= nv; j++) {
    k = B[i] SUBSEP V[j]
    T[k] = median(times[k]); R[k] = median(rsss[k]); GP[k] = median(gcpc[k]); GT[k] = median(gctot[k])
  }
  print "| workload | variant | time (s) | CPU (s) | × Boehm | × Go | × mimalloc | peak RSS (MiB) | RSS × Go | GC cycles | pause max (ms) | pause p99 (ms) | pause total (ms) | GC CPU/cycle (ms) | GC CPU total (ms) |"
  print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for (i = 1; i <= nb; i++) {
    b = B[i]
    for (j = 1; j <= nv; j++) {
      v = V[j]; k = b SUBSEP v
      if (!(k in runs)) continue
      name = v == "mimalloc" ? "mimalloc (malloc/free)" : v == "glibc" ? "glibc (malloc/free)" : v
      if (v == "gomalloc") name = "**gomalloc**"
      if (T[k] == "") {
        printf "| %s | %s | FAILED (%d of %d runs) | | | | | | | | | | | | |\n", b, name, failed[k], runs[k]
        continue
      }
      note = failed[k] ? sprintf(" (%d FAILED)", failed[k]) : ""
      printf "| %s | %s | %.3f%s | %s | %s | %s | %s | %.1f | %s | %s | %s | %s | %s | %s | %s |\n", b, name, T[k], note,
        fr(median(cpus[k])),
        fr(ratio(T[k], T[b SUBSEP "boehm"])), fr(ratio(T[k], T[b SUBSEP "go"])),
        fr(ratio(T[k], T[b SUBSEP "mimalloc"])), R[k] / 1024, fr(ratio(R[k], R[b SUBSEP "go"])),
        cyc[k] == "" ? "–" : sprintf("%d", median(cyc[k])), fms(median(pmax[k])),
        fms(median(p99[k])), fms(median(ptot[k])), fms(GP[k]), fms(GT[k])
    }
  }

  # span / object marking: the same _gm program, GOMALLOC_GCMARK=span / object
  nm = 0
  for (i = 1; i <= nb; i++) {
    b = B[i]; ks = b SUBSEP "gomalloc"; ko = b SUBSEP "gomalloc-objmark"
    if (!(ks in runs) || !(ko in runs)) continue
    if (nm++ == 0) {
      print ""
      print "Span / object marking (medians of the gomalloc row over the gomalloc-objmark row; below 1: span marking costs less):"
      print ""
    }
    printf "- %s: span / object marking: GC CPU per cycle ratio %s, total GC CPU ratio %s, time ratio %s\n", b,
      fr(ratio(GP[ks], GP[ko])), fr(ratio(GT[ks], GT[ko])), fr(ratio(T[ks], T[ko]))
  }
  print ""
  print "Result lines (the same for every variant and round unless listed run by run):"
  print ""
  for (i = 1; i <= nb; i++) {
    b = B[i]
    if (nlines[b] == 0) printf "- %s: FAILED: no run completed\n", b
    else if (nlines[b] == 1) printf "- %s: `%s`\n", b, firstline[b]
    else printf "- %s: MISMATCH:%s\n", b, lines[b]
  }

  for (i = 1; i <= nb; i++) RAN[B[i]] = 1
  if (!("binarytrees" in RAN) && !("gcbench" in RAN)) exit
  print ""
  print "Targets (gomalloc against its peers, median times and peak RSS):"
  print ""
  scale = (bt_depth != "" && bt_depth != 21) ? sprintf(" (run at depth %s, not the target's 21: indicative only)", bt_depth) : ""
  bt = "binary-trees depth " (bt_depth == "" ? "?" : bt_depth)
  if ("binarytrees" in RAN) {
    verdict(bt ": time ≤ " bt_boehm_target "× Boehm",
      ratio(T["binarytrees" SUBSEP "gomalloc"], T["binarytrees" SUBSEP "boehm"]), bt_boehm_target, scale)
    verdict(bt ": time ≤ " bt_mimalloc_target "× mimalloc malloc/free",
      ratio(T["binarytrees" SUBSEP "gomalloc"], T["binarytrees" SUBSEP "mimalloc"]), bt_mimalloc_target, scale)
    verdict(bt ": peak RSS ≤ " bt_rss_go_target "× Go",
      ratio(R["binarytrees" SUBSEP "gomalloc"], R["binarytrees" SUBSEP "go"]), bt_rss_go_target, scale)
  }
  if ("gcbench" in RAN)
    verdict("GCBench: time ≤ " gcb_boehm_target "× Boehm",
      ratio(T["gcbench" SUBSEP "gomalloc"], T["gcbench" SUBSEP "boehm"]), gcb_boehm_target, gcb_scale)
}

function verdict(what, r, target, note) {
  if (r == "") { printf "- %s: not measured (a variant is missing or failed)\n", what; return }
  printf "- %s: %.2f× — %s%s\n", what, r, (r + 0 <= target + 0) ? "**met**" : "**not met**", note
}
