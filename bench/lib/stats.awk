# bench/lib/stats.awk — helpers shared by the bench report scripts, loaded
# with an extra -f before each of them.

# The median of a space-separated list of numbers ("" for an empty list).
function median(list,    v, n, i, j, x) {
  n = split(list, v, " ")
  if (n == 0) return ""
  for (i = 2; i <= n; i++) {           # insertion sort, numerically
    x = v[i] + 0
    for (j = i - 1; j >= 1 && v[j] + 0 > x; j--) v[j + 1] = v[j]
    v[j + 1] = x
  }
  if (n % 2) return v[(n + 1) / 2] + 0
  return (v[n / 2] + v[n / 2 + 1]) / 2
}

# a / b, or "" when either is missing or b is not positive.
function ratio(a, b) { return (a == "" || b == "" || b + 0 <= 0) ? "" : a / b }
