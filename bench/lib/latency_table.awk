# bench/lib/latency_table.awk — bench/gc.sh's latency table: gc_report.awk's
# output (stdin) with the latency-* rows moved out of its table into a table
# of their own, right after it, with three columns appended: the medians of
# the largest gap (ms) and of the 99.9th and 99th percentile gaps (µs), from
# fields 13-15 of gc-results.tsv. (The GC CPU columns, fields 16-17, are
# gc_report.awk's, in both tables.)
# variables (-v): tsv (gc-results.tsv). Needs bench/lib/stats.awk.
function add(arr, k, v) { if (v != "-" && v != "") arr[k] = arr[k] " " v }
function fmt(x, f) { return x == "" ? "–" : sprintf(f, x) }
function fms(x) { return x == "" ? "–" : (x + 0 < 10 ? sprintf("%.3f", x) : sprintf("%.1f", x)) }
function trim(x) { gsub(/^[ *]+|[ *]+$/, "", x); return x }
function flush(    i) {
  if (nrows > 0) { print hdr; print sep; for (i = 1; i <= nrows; i++) print rows[i] }
  if (nlat > 0) {
    if (nrows > 0) print ""
    print hdr " gap max (ms) | gap p99.9 (µs) | gap p99 (µs) |"
    print sep "---:|---:|---:|"
    for (i = 1; i <= nlat; i++) print lat[i]
  }
  nrows = nlat = 0; intable = 0
}
BEGIN {
  FS = "\t"
  while ((getline l < tsv) > 0) {
    split(l, f, "\t")
    if (f[4] == "FAIL") continue
    k = f[1] SUBSEP f[2]
    add(gmax, k, f[13]); add(g999, k, f[14]); add(g99, k, f[15])
  }
  FS = "|"
}
/^\| workload \|/ && !done { hdr = $0; intable = 1; next }
intable && /^\|---/ { sep = $0; next }
intable && /^\|/ {
  b = trim($2)
  if (b !~ /^latency-/) { rows[++nrows] = $0; next }
  k = b SUBSEP trim($3)
  lat[++nlat] = $0 " " (median(gmax[k]) == "" ? "–" : fms(median(gmax[k]) / 1000)) " | " \
    fmt(median(g999[k]), "%.1f") " | " fmt(median(g99[k]), "%.1f") " |"
  next
}
intable { flush(); done = 1 }
{ print }
END { if (intable) flush() }
