# tests/real: Tcl workload.  Lists, dicts, strings, arrays, regexp, lsort,
# format, procs, namespaces, lambdas, coroutines, bignums, binary, with a
# fixed seed.  Array and dict iteration is always sorted before printing.

expr {srand(42)}

proc ck {s} {
    # 32-bit FNV-1a of the UTF-8 bytes, pure Tcl
    set h 2166136261
    binary scan [encoding convertto utf-8 $s] cu* bytes
    foreach b $bytes { set h [expr {(($h ^ $b) * 16777619) & 0xffffffff}] }
    format %08x $h
}
proc report {args} { puts [join $args " "] }
proc rnd {n} { expr {int(rand() * $n)} }

# ---------------------------------------------------------------- words, lists
set syll {ka ri to na mu se lo pe chi ru an ve xo qu im dra fen gol}
proc word {} {
    global syll
    set w ""
    for {set i [expr {1 + [rnd 4]}]} {$i > 0} {incr i -1} { append w [lindex $syll [rnd 18]] }
    return $w
}
set words {}
for {set i 0} {$i < 150000} {incr i} { lappend words [word] }
report words [llength $words] [ck [join [lrange $words 0 999] ,]]

set sorted [lsort $words]
report lsort [lindex $sorted 0] [lindex $sorted end] [ck [join [lrange $sorted 70000 71000]]]
set uniq [lsort -unique $words]
report unique [llength $uniq]
set bylen [lsort -command {apply {{a b} {
    set d [expr {[string length $a] - [string length $b]}]
    if {$d != 0} { return $d }
    string compare $a $b
}}} [lrange $uniq 0 5000]]
report lsort-command [lindex $bylen 0] [lindex $bylen end] [ck $bylen]
set nums {}
for {set i 0} {$i < 200000} {incr i} { lappend nums [rnd 1000000] }
set ns [lsort -integer $nums]
report lsort-integer [lindex $ns 0] [lindex $ns 100000] [lindex $ns end]
set nd [lsort -integer -decreasing -unique $nums]
report lsort-unique [llength $nd] [lindex $nd 0]
set pairs {}
foreach w [lrange $words 0 49999] n [lrange $nums 0 49999] { lappend pairs [list $w $n] }
set ps [lsort -index 1 -integer [lsort -index 0 $pairs]]
report lsort-index [lindex $ps 0] [lindex $ps end] [ck [lrange $ps 0 200]]
set l2 [lreplace $words 100 50000 a b c]
set l2 [linsert $l2 7 x y z]
lset l2 3 changed
report lreplace [llength $l2] [lrange $l2 0 9] [lsearch -exact $l2 changed] [llength [lsearch -all -glob $words ka*]]
set nested {}
for {set i 0} {$i < 300} {incr i} {
    set row {}
    for {set j 0} {$j < 300} {incr j} { lappend row [expr {($i * $j) % 101}] }
    lappend nested $row
}
set s 0
foreach row $nested { set s [expr {$s + [tcl::mathop::+ {*}$row]}] }
report nested $s [lindex $nested 17 42]
report lmap [ck [lmap w [lrange $words 0 9999] {string toupper $w}]]

# ---------------------------------------------------------------- dicts, arrays
set counts [dict create]
foreach w $words { dict incr counts $w }
report dict-size [dict size $counts]
set top [lrange [lsort -stride 2 -index 1 -integer -decreasing [lsort -stride 2 [dict get $counts]]] 0 19]
report dict-top $top
set db [dict create]
for {set i 0} {$i < 30000} {incr i} {
    set w [lindex $words $i]
    dict lappend db $w [dict create id $i sq [expr {$i * $i % 1009}]]
}
set total 0
foreach k [lsort [dict keys $db]] {
    foreach rec [dict get $db $k] { incr total [dict get $rec sq] }
}
report dict-nested [dict size $db] $total
dict for {k v} $counts { if {$v < 3} { dict unset counts $k } }
report dict-unset [dict size $counts]
set f [dict filter $counts script {k v} { expr {[string length $k] == 6} }]
report dict-filter [dict size $f] [ck [lsort -stride 2 $f]]
set m [dict map {k v} $f { expr {$v * 2} }]
report dict-map [ck [lsort -stride 2 $m]]

array set arr {}
foreach w $words { if {[info exists arr($w)]} { incr arr($w) } else { set arr($w) 1 } }
report array-size [array size arr]
set an [lsort [array names arr *dra*]]
report array-names [llength $an] [lindex $an 0] [lindex $an end]
foreach k [array names arr] { if {$arr($k) > 100} { unset arr($k) } }
report array-unset [array size arr]
array set big {}
for {set i 0} {$i < 100000} {incr i} { set big($i,[expr {$i % 7}]) [string repeat x [expr {$i % 50}]] }
set bl 0
foreach k [lsort -dictionary [array names big]] { incr bl [string length $big($k)] }
report array-big [array size big] $bl
array unset big
report array-unset-all [array exists big]

# ---------------------------------------------------------------- strings
set buf ""
for {set i 0} {$i < 100000} {incr i} { append buf [format "%06d:%s;" $i [lindex $words $i]] }
report append [string length $buf] [ck $buf]
set mapped [string map {ka KA ri {} ;  " | "} $buf]
report string-map [string length $mapped] [ck $mapped]
set rev [string reverse [string range $buf 0 99999]]
report reverse [ck $rev] [string first chi $buf] [string last gol $buf]
set parts [split $buf ";"]
report split [llength $parts] [lindex $parts 777]
set j [join [lreverse $parts] "\n"]
report join [string length $j] [ck $j]
report format [format {%5.2f|%-8s|%08b|%x|%e|%c|%s} 3.14159 left 37 48879 12345.678 65 [join {1 2 3} ,]]
report string-ops [string toupper [string range $buf 0 20]] [string totitle quick] [string trim "  xx  "] \
    [string is integer 12345] [string match {*ka*ri*} [lindex $words 3]] [string repeat ab 3]
set u [string repeat "\u00e9\u4e2d\u0444" 10000]
report unicode [string length $u] [ck $u] [string index $u 29998]
set bin [binary format I* [lrange $nums 0 9999]]
binary scan $bin I* back
report binary [string length $bin] [expr {[tcl::mathop::+ {*}$back] == [tcl::mathop::+ {*}[lrange $nums 0 9999]]}]
set enc [binary encode base64 [string range $buf 0 30000]]
report base64 [string length $enc] [string equal [binary decode base64 $enc] [string range $buf 0 30000]]

# ---------------------------------------------------------------- regexp
set text [join [lrange $words 0 39999] " "]
set m [regexp -all -inline {\m(ka\w*ru)\M} $text]
report regexp-all [llength $m] [ck $m]
report regexp-count [regexp -all {(?:se|lo){2,}} $text]
set t2 [regsub -all {(\w)(\w*)} $text {\2\1}]
report regsub [ck $t2]
set t3 $text
set n [regsub -all {\m(\w+) \1\M} $t3 {<\1>} t3]
report backref $n [ck $t3]
regexp {(\w+)dra(\w*)} $text all pre post
report regexp-capture $all $pre $post
set idx [regexp -all -indices -inline {gol\w*} [string range $text 0 5000]]
report indices [llength $idx] [lindex $idx 0]
set t4 [subst [regsub -all {\m(\w{7,})\M} [string range $text 0 20000] {[string reverse \1]}]]
report regsub-subst [ck $t4]

# ---------------------------------------------------------------- procs, namespaces, lambdas, coroutines
namespace eval counter {
    variable c 0
    proc inc {{by 1}} { variable c; incr c $by }
    proc get {} { variable c; return $c }
    namespace export inc get
}
for {set i 1} {$i <= 10000} {incr i} { counter::inc $i }
report namespace [counter::get]
proc fib {n} { if {$n < 2} { return $n }; expr {[fib [expr {$n - 1}]] + [fib [expr {$n - 2}]]} }
report fib [fib 22]
proc fact {n} { if {$n <= 1} { return 1 }; expr {$n * [fact [expr {$n - 1}]]} }
set f500 [fact 500]
report bignum [string length $f500] [ck $f500] [expr {$f500 % 1000000007}]
report bigpow [string length [expr {3 ** 20000}]] [expr {(7 ** 3000) % 1000000009}]
set adders [lmap k {1 2 3 4 5 6 7 8 9 10} { list x "expr {\$x + $k}" }]
set acc 0
for {set r 0} {$r < 1000} {incr r} { foreach a $adders { set acc [apply $a $acc] } }
report lambdas $acc
proc gen {n} {
    yield [info coroutine]
    for {set i 0} {$i < $n} {incr i} { yield [expr {$i * $i}] }
    return -1
}
coroutine g gen 5000
set cs 0
while 1 { set v [g]; if {$v < 0} break; incr cs $v }
report coroutine $cs
oo::class create Node {
    variable name kids
    constructor {n} { set name $n; set kids {} }
    method add {k} { lappend kids $k; return $k }
    method size {} { set s 1; foreach k $kids { incr s [$k size] }; return $s }
    method name {} { return $name }
}
set root [Node new root]
set nodes [list $root]
for {set i 1} {$i <= 20000} {incr i} { lappend nodes [[lindex $nodes [rnd [llength $nodes]]] add [Node new n$i]] }
report oo [$root size]
foreach o $nodes { $o destroy }
set errs 0
for {set i 1} {$i <= 10000} {incr i} {
    if {[catch { if {$i % 3 == 0} { error "bad $i" } elseif {$i % 5 == 0} { throw {MY CODE} "thrown $i" } } msg opts]} {
        incr errs [string length $msg]
        if {[dict get $opts -errorcode] eq {MY CODE}} { incr errs }
    }
}
report catch $errs
set script ""
for {set i 1} {$i <= 2000} {incr i} { append script "incr x [expr {$i * 2}]\n" }
set x 0
eval $script
report eval $x

# ---------------------------------------------------------------- churn
array set cache {}
for {set round 1} {$round <= 40} {incr round} {
    for {set i 0} {$i < 5000} {incr i} {
        set k [rnd 20000]
        if {rand() < 0.6} {
            set cache($k) [list [string repeat x [expr {1 + $k % 300}]] $round [lrepeat [expr {$k % 20}] $k]]
        } else {
            unset -nocomplain cache($k)
        }
    }
}
set sz 0
foreach k [lsort -integer [array names cache]] { incr sz [string length [lindex $cache($k) 0]]; incr sz [llength [lindex $cache($k) 2]] }
report churn [array size cache] $sz
puts done
