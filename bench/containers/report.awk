# bench/containers/report.awk — the Markdown tables and verdicts of
# bench/containers.sh (POSIX awk: runs under mawk).
#
# input: results.tsv, one line per run:
#   workload variant round wall-seconds peak-RSS-KiB exit-status result-line
#   other-cores user-seconds sys-seconds
# (wall-seconds is FAIL for a failed run)
# variables (-v): benches, variants (space-separated, in table order),
#   phases_file (workload variant round phase ns-per-op, one line per phase
#   of every run), target_sizes (the map sizes judged, as labels: "1e5 1e7"),
#   map_go_target, map_absl_target, slice_go_target, slice_std_target (the
#   factors), quick (1 for a --quick run)
# output: the tables, the result-line check, the verdicts. containers.sh
# greps the output for MISMATCH and FAILED.
BEGIN {
  FS = "\t"
  NPH = split("insert lookup_hit lookup_miss iterate delete", PH, " ")
  PHNAME["insert"] = "insert"; PHNAME["lookup_hit"] = "lookup hit"; PHNAME["lookup_miss"] = "lookup miss"
  PHNAME["iterate"] = "iterate"; PHNAME["delete"] = "delete"; PHNAME["append"] = "append"
  VNAME["gomalloc"] = "gomalloc"; VNAME["go"] = "Go"; VNAME["absl"] = "absl"; VNAME["std"] = "std"
  while ((getline line < phases_file) > 0) {
    split(line, f, "\t")
    k = f[1] SUBSEP f[2] SUBSEP f[4]
    nsop[k] = nsop[k] " " f[5]
  }
  close(phases_file)
}

function fr(x) { return x == "" ? "n/a" : sprintf("%.2f", x) }
function fns(x) { return x == "" ? "n/a" : (x + 0 < 10 ? sprintf("%.2f", x) : sprintf("%.1f", x)) }
function fs(x) { return x == "" ? "n/a" : sprintf("%.3f", x) }
function fmib(x) { return x == "" ? "n/a" : sprintf("%.1f", x / 1024) }
function add(arr, k, v) { if (v != "-" && v != "") arr[k] = arr[k] " " v }
# the result line without the slice's capacity (implementation-defined)
function canon(s) { gsub(/ cap=[0-9]+/, "", s); return s }
function kind_of(b,    q) { split(b, q, "-"); return q[2] }
function size_of(b,    q) { split(b, q, "-"); return q[3] }
function judged(b) { return b ~ /^map-int-/ && (" " target_sizes " ") ~ (" " size_of(b) " ") }
function ok(x, t) { return x == "" ? "n/a" : (x + 0 <= t + 0 ? "✓" : "✗") }

{
  k = $1 SUBSEP $2
  runs[k]++
  if ($4 == "FAIL") { failed[k]++; next }
  add(walls, k, $4); add(rsss, k, $5); add(cpus, k, $9 + $10)
  c = canon($7)
  if (!(($1 SUBSEP c) in seen)) { seen[$1 SUBSEP c] = 1; nlines[$1]++; firstline[$1] = c }
  lines[$1] = lines[$1] "\n  - " $2 " round " $3 ": `" $7 "`"
  if ($7 ~ / cap=/) { cp = $7; sub(/.* cap=/, "", cp); sub(/ .*/, "", cp); cap[k] = cp }
}

END {
  nb = split(benches, B, " "); nv = split(variants, V, " ")
  for (i = 1; i <= nb; i++) for (j = 1; j <= nv; j++) {
    k = B[i] SUBSEP V[j]
    W[k] = median(walls[k]); R[k] = median(rsss[k]); C[k] = median(cpus[k])
    for (p = 1; p <= NPH; p++) N[k SUBSEP PH[p]] = median(nsop[k SUBSEP PH[p]])
    N[k SUBSEP "append"] = median(nsop[k SUBSEP "append"])
  }
  nmap = 0; nslice = 0
  for (i = 1; i <= nb; i++) { if (B[i] ~ /^map-/) M[++nmap] = B[i]; else S[++nslice] = B[i] }

  tsz = target_sizes; sub(/ /, " and ", tsz)
  if (nmap > 0) {
    print "**Map operations**: median ns per operation, measured inside each program around the phase (gm/X = gomalloc ÷ X: below 1 gomalloc is faster). Target (int keys at " tsz "): ≤ " map_go_target "× Go and ≤ " map_absl_target "× absl."
    print ""
    print "| keys | entries | operation | gomalloc | Go | absl | std | gm/Go | gm/absl | gm/std | target |"
    print "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"
    for (i = 1; i <= nmap; i++) {
      b = M[i]; g = b SUBSEP "gomalloc"
      for (p = 1; p <= NPH; p++) {
        ph = PH[p]
        ng = N[g SUBSEP ph]; ngo = N[b SUBSEP "go" SUBSEP ph]; na = N[b SUBSEP "absl" SUBSEP ph]; ns = N[b SUBSEP "std" SUBSEP ph]
        rgo = ratio(ng, ngo); ra = ratio(ng, na); rs = ratio(ng, ns)
        tgt = "–"
        if (judged(b)) {
          tgt = (rgo == "" && ra == "") ? "n/a" : ok(rgo, map_go_target) " Go, " ok(ra, map_absl_target) " absl"
          if (rgo == "") miss_go[b] = 1
          else if (worst_go[b] == "" || rgo > worst_go[b] + 0) { worst_go[b] = rgo; worst_go_ph[b] = PHNAME[ph] }
          if (ra == "") miss_ab[b] = 1
          else if (worst_ab[b] == "" || ra > worst_ab[b] + 0) { worst_ab[b] = ra; worst_ab_ph[b] = PHNAME[ph] }
          list_go[b] = list_go[b] (list_go[b] == "" ? "" : ", ") PHNAME[ph] " " fr(rgo)
          list_ab[b] = list_ab[b] (list_ab[b] == "" ? "" : ", ") PHNAME[ph] " " fr(ra)
        }
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", kind_of(b), size_of(b), PHNAME[ph],
          fns(ng), fns(ngo), fns(na), fns(ns), fr(rgo), fr(ra), fr(rs), tgt
      }
    }
    print ""
    print "**Map processes**: median wall time in seconds (CPU time, all threads, in parentheses) and peak RSS (`ru_maxrss`) in MiB of the whole process, key building included; RSS gm/X = gomalloc's peak RSS ÷ X's."
    print ""
    print "| workload | gomalloc s | Go s | absl s | std s | gomalloc MiB | Go MiB | absl MiB | std MiB | RSS gm/Go | RSS gm/absl | RSS gm/std |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nmap; i++) {
      b = M[i]
      line = "| " b
      for (j = 1; j <= nv; j++) { k = b SUBSEP V[j]; line = line " | " cell(k) }
      for (j = 1; j <= nv; j++) { k = b SUBSEP V[j]; line = line " | " fmib(R[k]) }
      for (j = 2; j <= nv; j++) line = line " | " fr(ratio(R[b SUBSEP "gomalloc"], R[b SUBSEP V[j]]))
      print line " |"
    }
  }

  if (nslice > 0) {
    if (nmap > 0) print ""
    print "**Slice append**: median ns per append (inside the program), wall and CPU seconds and peak RSS of the process; gm/X = gomalloc ÷ X. Target: ≤ " slice_go_target "× Go and ≤ " slice_std_target "× std::vector (ns per append)."
    print ""
    print "| workload | variant | ns/append | time s (CPU s) | peak RSS MiB | final cap | gm/X ns/append | gm/X RSS |"
    print "|---|---|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nslice; i++) {
      b = S[i]; g = b SUBSEP "gomalloc"
      for (j = 1; j <= nv; j++) {
        v = V[j]; k = b SUBSEP v
        if (v == "absl") continue
        if (!(k in runs)) { printf "| %s | %s | n/a | n/a | n/a | n/a | n/a | n/a |\n", b, VNAME[v]; continue }
        printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", b, v == "gomalloc" ? "**gomalloc**" : VNAME[v],
          fns(N[k SUBSEP "append"]), cell(k), fmib(R[k]), (k in cap) ? cap[k] : "n/a",
          fr(ratio(N[g SUBSEP "append"], N[k SUBSEP "append"])), fr(ratio(R[g], R[k]))
      }
    }
  }

  print ""
  print "Result lines (the same for every variant and round unless listed run by run; the slice's `cap=` is not compared):"
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
  print "Verdicts" (quick == 1 ? " (--quick: judged at the quick sizes, not the targets' scales)" : "") ":"
  print ""
  nverd = 0
  for (i = 1; i <= nmap; i++) {
    b = M[i]
    if (!judged(b)) continue
    nverd++
    if (miss_go[b]) vg = "n/a (" why(b, "go") ")"
    else vg = sprintf("%s (worst %.2f×, %s; %s)", worst_go[b] <= map_go_target + 0 ? "met" : "NOT met", worst_go[b], worst_go_ph[b], list_go[b])
    if (miss_ab[b]) va = "n/a (" why(b, "absl") ")"
    else va = sprintf("%s (worst %.2f×, %s; %s)", worst_ab[b] <= map_absl_target + 0 ? "met" : "NOT met", worst_ab[b], worst_ab_ph[b], list_ab[b])
    printf "- %s, every operation ≤ %s× Go: %s\n", b, map_go_target, vg
    printf "- %s, every operation ≤ %s× absl: %s\n", b, map_absl_target, va
  }
  for (i = 1; i <= nslice; i++) {
    b = S[i]; g = b SUBSEP "gomalloc"
    nverd++
    rgo = ratio(N[g SUBSEP "append"], N[b SUBSEP "go" SUBSEP "append"])
    rs = ratio(N[g SUBSEP "append"], N[b SUBSEP "std" SUBSEP "append"])
    printf "- %s, ns/append ≤ %s× Go: %s\n", b, slice_go_target, rgo == "" ? "n/a (" why(b, "go") ")" : sprintf("%s (%.2f×; peak RSS %s× Go's)", rgo <= slice_go_target + 0 ? "met" : "NOT met", rgo, fr(ratio(R[g], R[b SUBSEP "go"])))
    printf "- %s, ns/append ≤ %s× std::vector: %s\n", b, slice_std_target, rs == "" ? "n/a (" why(b, "std") ")" : sprintf("%s (%.2f×; peak RSS %s× std's)", rs <= slice_std_target + 0 ? "met" : "NOT met", rs, fr(ratio(R[g], R[b SUBSEP "std"])))
  }
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
